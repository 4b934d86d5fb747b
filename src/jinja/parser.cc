// Recursive-descent parser; operator precedence as in Jinja2 (lowest first):
// conditional, or, and, not, comparisons/in, + -, ~, * / // %, **, unary, postfix
// (attribute, subscript, call, | filter, is test).
#include <initializer_list>

#include "src/jinja/internal/ast.h"

namespace kvc::jinja {
namespace {

using K = Token::Kind;
using EK = Expr::Kind;
using SK = Stmt::Kind;

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  Body Template() {
    Body body = ParseBody({});
    if (Peek().kind != K::kEnd) Fail("unexpected '" + Peek().value + "'");
    return body;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& Next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
  [[noreturn]] void Fail(const std::string& what) const {
    throw Error("template syntax error at line " + std::to_string(Peek().line) + ": " + what);
  }
  bool IsOp(const char* op, size_t ahead = 0) const {
    return Peek(ahead).kind == K::kOp && Peek(ahead).value == op;
  }
  bool IsName(const char* name, size_t ahead = 0) const {
    return Peek(ahead).kind == K::kName && Peek(ahead).value == name;
  }
  void ExpectOp(const char* op) {
    if (!IsOp(op)) Fail(std::string("expected '") + op + "', got '" + Peek().value + "'");
    Next();
  }
  void ExpectName(const char* name) {
    if (!IsName(name)) Fail(std::string("expected '") + name + "', got '" + Peek().value + "'");
    Next();
  }
  std::string Identifier() {
    if (Peek().kind != K::kName) Fail("expected a name, got '" + Peek().value + "'");
    return Next().value;
  }
  void Expect(K kind, const char* what) {
    if (Peek().kind != kind) Fail(std::string("expected ") + what + ", got '" + Peek().value + "'");
    Next();
  }

  // Statements until {% <one of ends> %} (not consumed) or the end of input.
  Body ParseBody(std::initializer_list<const char*> ends) {
    Body body;
    while (Peek().kind != K::kEnd) {
      const Token& tok = Peek();
      if (tok.kind == K::kText) {
        body.push_back(Stmt{SK::kText, Next().value});
        continue;
      }
      if (tok.kind == K::kOpenExpr) {
        Next();
        Stmt s{SK::kOutput};
        s.line = tok.line;
        s.expr = Expression();
        Expect(K::kCloseExpr, "'}}'");
        body.push_back(std::move(s));
        continue;
      }
      if (tok.kind != K::kOpenStmt) Fail("unexpected '" + tok.value + "'");
      for (const char* end : ends) {
        if (IsName(end, 1)) return body;
      }
      Next();
      body.push_back(Statement());
    }
    if (ends.size() > 0) Fail(std::string("missing '{% ") + *ends.begin() + " %}'");
    return body;
  }

  void EndTag(const char* name) {
    Expect(K::kOpenStmt, "'{%'");
    ExpectName(name);
    Expect(K::kCloseStmt, "'%}'");
  }

  Stmt Statement() {
    const int line = Peek().line;
    const std::string word = Identifier();
    Stmt s{SK::kText};
    s.line = line;
    if (word == "if") {
      s = If();
    } else if (word == "for") {
      s = For();
    } else if (word == "set") {
      s = Set();
    } else if (word == "macro" || word == "call") {
      s = MacroOrCall(word == "macro");
    } else if (word == "break" || word == "continue") {
      s.kind = word == "break" ? SK::kBreak : SK::kContinue;
      Expect(K::kCloseStmt, "'%}'");
    } else if (word == "filter") {
      s.kind = SK::kFilterBlock;
      s.targets.push_back(Identifier());
      Expect(K::kCloseStmt, "'%}'");
      s.body = ParseBody({"endfilter"});
      EndTag("endfilter");
    } else {
      Fail("unknown statement '" + word + "'");
    }
    s.line = line;
    return s;
  }

  Stmt If() {  // after "if" (or "elif")
    Stmt s{SK::kIf};
    s.expr = Expression();
    Expect(K::kCloseStmt, "'%}'");
    s.body = ParseBody({"elif", "else", "endif"});
    Next();  // {%
    const std::string word = Identifier();
    if (word == "elif") {
      s.else_body.push_back(If());
      return s;  // the nested if consumed endif
    }
    if (word == "else") {
      Expect(K::kCloseStmt, "'%}'");
      s.else_body = ParseBody({"endif"});
      EndTag("endif");
      return s;
    }
    Expect(K::kCloseStmt, "'%}'");
    return s;
  }

  Stmt For() {
    Stmt s{SK::kFor};
    s.targets.push_back(Identifier());
    while (IsOp(",")) {
      Next();
      s.targets.push_back(Identifier());
    }
    ExpectName("in");
    s.expr = OrExpr();
    if (IsName("if")) {
      Next();
      s.cond = Expression();
    }
    Expect(K::kCloseStmt, "'%}'");
    s.body = ParseBody({"else", "endfor"});
    Next();
    if (Identifier() == "else") {
      Expect(K::kCloseStmt, "'%}'");
      s.else_body = ParseBody({"endfor"});
      EndTag("endfor");
    } else {
      Expect(K::kCloseStmt, "'%}'");
    }
    return s;
  }

  Stmt Set() {
    Stmt s{SK::kSet};
    s.targets.push_back(Identifier());
    if (IsOp(".")) {
      Next();
      s.attr = Identifier();
    }
    if (Peek().kind == K::kCloseStmt) {
      Next();
      s.kind = SK::kSetBlock;
      s.body = ParseBody({"endset"});
      EndTag("endset");
      return s;
    }
    ExpectOp("=");
    s.expr = Expression();
    Expect(K::kCloseStmt, "'%}'");
    return s;
  }

  Stmt MacroOrCall(bool macro) {
    Stmt s{macro ? SK::kMacro : SK::kCallBlock};
    if (!macro && IsOp("(")) Params(&s);  // {% call(args) m() %}: caller's parameters
    if (macro) {
      s.targets.push_back(Identifier());
      Params(&s);
    } else {
      s.expr = Expression();
    }
    Expect(K::kCloseStmt, "'%}'");
    s.body = ParseBody({macro ? "endmacro" : "endcall"});
    EndTag(macro ? "endmacro" : "endcall");
    return s;
  }

  void Params(Stmt* s) {
    ExpectOp("(");
    while (!IsOp(")")) {
      std::string name = Identifier();
      ExprPtr def;
      if (IsOp("=")) {
        Next();
        def = Expression();
      }
      s->params.emplace_back(std::move(name), std::move(def));
      if (!IsOp(",")) break;
      Next();
    }
    ExpectOp(")");
  }

  ExprPtr Make(EK kind, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->name = std::move(name);
    e->line = Peek().line;
    return e;
  }
  ExprPtr Binary(std::string op, ExprPtr a, ExprPtr b) {
    auto e = Make(EK::kBinary, std::move(op));
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr Expression() {
    ExprPtr value = OrExpr();
    if (!IsName("if")) return value;
    Next();
    auto e = Make(EK::kTernary);
    e->args.push_back(std::move(value));
    e->args.push_back(OrExpr());
    if (IsName("else")) {
      Next();
      e->args.push_back(Expression());
    } else {
      e->args.push_back(nullptr);
    }
    return e;
  }
  ExprPtr OrExpr() {
    ExprPtr a = AndExpr();
    while (IsName("or")) {
      Next();
      a = Binary("or", std::move(a), AndExpr());
    }
    return a;
  }
  ExprPtr AndExpr() {
    ExprPtr a = NotExpr();
    while (IsName("and")) {
      Next();
      a = Binary("and", std::move(a), NotExpr());
    }
    return a;
  }
  ExprPtr NotExpr() {
    if (!IsName("not")) return Compare();
    Next();
    auto e = Make(EK::kUnary, "not");
    e->args.push_back(NotExpr());
    return e;
  }
  ExprPtr Compare() {
    ExprPtr a = Additive();
    while (true) {
      std::string op;
      if (Peek().kind == K::kOp &&
          (Peek().value == "==" || Peek().value == "!=" || Peek().value == "<" ||
           Peek().value == ">" || Peek().value == "<=" || Peek().value == ">=")) {
        op = Next().value;
      } else if (IsName("in")) {
        Next();
        op = "in";
      } else if (IsName("not") && IsName("in", 1)) {
        Next();
        Next();
        op = "not in";
      } else {
        return a;
      }
      a = Binary(op, std::move(a), Additive());
    }
  }
  ExprPtr Additive() {
    ExprPtr a = Concat();
    while (IsOp("+") || IsOp("-")) {
      std::string op = Next().value;
      a = Binary(op, std::move(a), Concat());
    }
    return a;
  }
  ExprPtr Concat() {
    ExprPtr a = Multiplicative();
    while (IsOp("~")) {
      Next();
      a = Binary("~", std::move(a), Multiplicative());
    }
    return a;
  }
  ExprPtr Multiplicative() {
    ExprPtr a = Power();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      std::string op = Next().value;
      a = Binary(op, std::move(a), Power());
    }
    return a;
  }
  ExprPtr Power() {
    ExprPtr a = Unary();
    while (IsOp("**")) {
      Next();
      a = Binary("**", std::move(a), Unary());
    }
    return a;
  }
  ExprPtr Unary() {
    if (IsOp("-") || IsOp("+")) {
      auto e = Make(EK::kUnary, Next().value);
      e->args.push_back(Unary());
      return e;
    }
    return Postfix(Primary());
  }

  void CallArgs(Expr* e) {
    ExpectOp("(");
    while (!IsOp(")")) {
      if (Peek().kind == K::kName && IsOp("=", 1)) {
        std::string name = Next().value;
        Next();
        e->kwargs.emplace_back(std::move(name), Expression());
      } else {
        e->args.push_back(Expression());
      }
      if (!IsOp(",")) break;
      Next();
    }
    ExpectOp(")");
  }

  ExprPtr Postfix(ExprPtr a) {
    while (true) {
      if (IsOp(".")) {
        Next();
        auto e = Make(EK::kGetAttr, Identifier());
        e->args.push_back(std::move(a));
        a = std::move(e);
      } else if (IsOp("[")) {
        Next();
        a = Subscript(std::move(a));
      } else if (IsOp("(")) {
        auto e = Make(EK::kCall);
        e->args.push_back(std::move(a));
        CallArgs(e.get());
        a = std::move(e);
      } else if (IsOp("|")) {
        Next();
        auto e = Make(EK::kFilter, Identifier());
        e->args.push_back(std::move(a));
        if (IsOp("(")) CallArgs(e.get());
        a = std::move(e);
      } else if (IsName("is")) {
        Next();
        auto e = Make(EK::kTest);
        if (IsName("not")) {
          Next();
          e->negate = true;
        }
        e->name = Identifier();
        e->args.push_back(std::move(a));
        if (IsOp("(")) {
          CallArgs(e.get());
        } else if (Peek().kind == K::kString || Peek().kind == K::kInt ||
                   Peek().kind == K::kFloat ||
                   (Peek().kind == K::kName && !IsName("and") && !IsName("or") && !IsName("if") &&
                    !IsName("else") && !IsName("is") && !IsName("not") && !IsName("in"))) {
          e->args.push_back(Primary());  // `x is sameas false`, `x is divisibleby 3`
        }
        a = std::move(e);
      } else {
        return a;
      }
    }
  }

  ExprPtr Subscript(ExprPtr object) {
    ExprPtr parts[3];
    int n = 0;
    bool slice = false;
    while (true) {
      if (IsOp(":")) {
        slice = true;
        Next();
        if (++n > 2) Fail("too many ':' in a slice");
        continue;
      }
      if (IsOp("]")) break;
      parts[n] = Expression();
      if (!IsOp(":") && !IsOp("]")) Fail("expected ':' or ']'");
    }
    Next();
    auto e = Make(slice ? EK::kSlice : EK::kGetItem);
    e->args.push_back(std::move(object));
    if (!slice) {
      if (!parts[0]) Fail("empty subscript");
      e->args.push_back(std::move(parts[0]));
      return e;
    }
    for (auto& p : parts) e->args.push_back(std::move(p));
    return e;
  }

  ExprPtr Literal(Value v) {
    auto e = Make(EK::kLiteral);
    e->literal = std::move(v);
    Next();
    return e;
  }

  ExprPtr Primary() {
    const Token& tok = Peek();
    switch (tok.kind) {
      case K::kString: {
        std::string s = Next().value;
        while (Peek().kind == K::kString) s += Next().value;  // adjacent literals join
        auto e = Make(EK::kLiteral);
        e->literal = Value::TemplateString(std::move(s));
        return e;
      }
      case K::kInt:
        return Literal(Value::Int(std::stoll(tok.value)));
      case K::kFloat:
        return Literal(Value::Float(std::stod(tok.value)));
      case K::kName: {
        const std::string& n = tok.value;
        if (n == "true" || n == "True") return Literal(Value::Bool(true));
        if (n == "false" || n == "False") return Literal(Value::Bool(false));
        if (n == "none" || n == "None") return Literal(Value::None());
        return Make(EK::kName, Next().value);
      }
      case K::kOp:
        if (tok.value == "(") return Parenthesized();
        if (tok.value == "[") return Sequence(EK::kList, "]");
        if (tok.value == "{") return DictLiteral();
        break;
      default:
        break;
    }
    Fail("unexpected '" + tok.value + "' in an expression");
  }

  ExprPtr Parenthesized() {
    Next();
    if (IsOp(")")) {
      Next();
      return Make(EK::kTuple);
    }
    ExprPtr first = Expression();
    if (IsOp(")")) {
      Next();
      return first;
    }
    auto e = Make(EK::kTuple);
    e->args.push_back(std::move(first));
    while (IsOp(",")) {
      Next();
      if (IsOp(")")) break;
      e->args.push_back(Expression());
    }
    ExpectOp(")");
    return e;
  }

  ExprPtr Sequence(EK kind, const char* close) {
    Next();
    auto e = Make(kind);
    while (!IsOp(close)) {
      e->args.push_back(Expression());
      if (!IsOp(",")) break;
      Next();
    }
    ExpectOp(close);
    return e;
  }

  ExprPtr DictLiteral() {
    Next();
    auto e = Make(EK::kDict);
    while (!IsOp("}")) {
      e->args.push_back(Expression());
      ExpectOp(":");
      e->args.push_back(Expression());
      if (!IsOp(",")) break;
      Next();
    }
    ExpectOp("}");
    return e;
  }

  const std::vector<Token>& t_;
  size_t i_ = 0;
};

}  // namespace

Body ParseTokens(const std::vector<Token>& tokens) { return Parser(tokens).Template(); }

}  // namespace kvc::jinja
