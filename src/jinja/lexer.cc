// Lexing follows @huggingface/jinja (the reference transformers.js uses): the same
// preprocessing (trailing newline, lstrip_blocks, trim_blocks) and `-` whitespace control.
#include <cctype>
#include <cstring>

#include "src/jinja/internal/ast.h"

namespace kvc::jinja {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Removes one trailing newline, blank indentation before block tags, the newline after
// a block tag, and {% generation %} markers.
std::string Preprocess(std::string_view in) {
  std::string src(in);
  if (!src.empty() && src.back() == '\n') src.pop_back();
  std::string a;  // lstrip_blocks: ^[ \t]*({[#%-]) per line
  for (size_t i = 0; i < src.size();) {
    if (i == 0 || src[i - 1] == '\n' || src[i - 1] == '\r') {
      size_t j = i;
      while (j < src.size() && (src[j] == ' ' || src[j] == '\t')) ++j;
      if (j > i && j + 1 < src.size() && src[j] == '{' &&
          std::strchr("#%-", src[j + 1]) != nullptr) {
        i = j;
        continue;
      }
    }
    a += src[i++];
  }
  std::string b;  // trim_blocks: ([#%-]})\n -> $1
  for (size_t i = 0; i < a.size(); ++i) {
    b += a[i];
    if (i + 2 < a.size() && std::strchr("#%-", a[i]) != nullptr && a[i + 1] == '}' &&
        a[i + 2] == '\n') {
      b += '}';
      i += 2;
    }
  }
  return b;
}

struct Lexer {
  std::string src;
  size_t pos = 0;
  int line = 1;
  std::vector<Token> out;

  [[noreturn]] void Fail(const std::string& what) {
    throw Error("template syntax error at line " + std::to_string(line) + ": " + what);
  }
  void Push(Token::Kind k, std::string v) { out.push_back({k, std::move(v), line}); }
  void Advance(size_t n) {
    for (size_t k = 0; k < n && pos < src.size(); ++k) line += src[pos++] == '\n';
  }
  void StripTrailing() {
    if (out.empty() || out.back().kind != Token::Kind::kText) return;
    auto& v = out.back().value;
    while (!v.empty() && IsSpace(v.back())) v.pop_back();
    if (v.empty()) out.pop_back();
  }
  void SkipLeading() {
    while (pos < src.size() && IsSpace(src[pos])) Advance(1);
  }
  bool At(const char* s) const { return src.compare(pos, std::strlen(s), s) == 0; }

  void Text() {
    size_t end = pos;
    while (true) {
      end = src.find('{', end);
      if (end == std::string::npos) {
        end = src.size();
        break;
      }
      if (end + 1 < src.size() && std::strchr("%{#", src[end + 1]) != nullptr) break;
      ++end;
    }
    if (end > pos) {
      Push(Token::Kind::kText, src.substr(pos, end - pos));
      Advance(end - pos);
    }
  }

  void Comment() {
    Advance(2);
    const bool strip_before = pos < src.size() && src[pos] == '-';
    const size_t end = src.find("#}", pos);
    if (end == std::string::npos) Fail("missing end of comment tag");
    const bool strip_after = end > pos && src[end - 1] == '-';
    if (strip_before) StripTrailing();
    Advance(end + 2 - pos);
    if (strip_after) SkipLeading();
  }

  std::string String(char quote) {
    std::string s;
    Advance(1);
    while (true) {
      if (pos >= src.size()) Fail("unterminated string");
      char c = src[pos];
      if (c == quote) break;
      Advance(1);
      if (c != '\\') {
        s += c;
        continue;
      }
      if (pos >= src.size()) Fail("unterminated string");
      char e = src[pos];
      Advance(1);
      switch (e) {
        case 'n':
          s += '\n';
          break;
        case 't':
          s += '\t';
          break;
        case 'r':
          s += '\r';
          break;
        case 'b':
          s += '\b';
          break;
        case 'f':
          s += '\f';
          break;
        case 'v':
          s += '\v';
          break;
        case '\'':
        case '"':
        case '\\':
          s += e;
          break;
        default:
          Fail(std::string("unexpected escaped character: ") + e);
      }
    }
    Advance(1);
    return s;
  }

  // Inside {% %} / {{ }} until the closing tag.
  void Code(bool statement) {
    int braces = 0;
    while (true) {
      while (pos < src.size() && IsSpace(src[pos])) Advance(1);
      if (pos >= src.size()) Fail("unexpected end of template inside a tag");
      const char* close = statement ? "%}" : "}}";
      if (src[pos] == '-' && src.compare(pos + 1, 2, close) == 0) {
        Push(statement ? Token::Kind::kCloseStmt : Token::Kind::kCloseExpr, close);
        Advance(3);
        SkipLeading();
        return;
      }
      if (braces == 0 && At(close)) {
        Push(statement ? Token::Kind::kCloseStmt : Token::Kind::kCloseExpr, close);
        Advance(2);
        return;
      }
      const char c = src[pos];
      if (c == '\'' || c == '"') {
        Push(Token::Kind::kString, String(c));
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t end = pos;
        while (end < src.size() && std::isdigit(static_cast<unsigned char>(src[end]))) ++end;
        bool is_float = false;
        if (end + 1 < src.size() && src[end] == '.' &&
            std::isdigit(static_cast<unsigned char>(src[end + 1]))) {
          is_float = true;
          ++end;
          while (end < src.size() && std::isdigit(static_cast<unsigned char>(src[end]))) ++end;
        }
        Push(is_float ? Token::Kind::kFloat : Token::Kind::kInt, src.substr(pos, end - pos));
        Advance(end - pos);
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t end = pos;
        while (end < src.size() &&
               (std::isalnum(static_cast<unsigned char>(src[end])) || src[end] == '_'))
          ++end;
        Push(Token::Kind::kName, src.substr(pos, end - pos));
        Advance(end - pos);
      } else {
        static const char* kTwo[] = {"==", "!=", "<=", ">=", "//", "**"};
        std::string op(1, c);
        for (const char* t : kTwo) {
          if (At(t)) op = t;
        }
        if (op.size() == 1 && std::strchr("+-*/%<>=()[]{},.:|~!", c) == nullptr) {
          Fail(std::string("unexpected character '") + c + "'");
        }
        if (op == "{") ++braces;
        if (op == "}") --braces;
        Push(Token::Kind::kOp, op);
        Advance(op.size());
      }
    }
  }

  void Run() {
    while (pos < src.size()) {
      Text();
      if (pos >= src.size()) break;
      const char next = src[pos + 1];
      if (next == '#') {
        Comment();
        continue;
      }
      const bool statement = next == '%';
      if (pos + 2 < src.size() && src[pos + 2] == '-') {
        StripTrailing();
        Push(statement ? Token::Kind::kOpenStmt : Token::Kind::kOpenExpr, "");
        Advance(3);
      } else {
        Push(statement ? Token::Kind::kOpenStmt : Token::Kind::kOpenExpr, "");
        Advance(2);
      }
      Code(statement);
    }
    Push(Token::Kind::kEnd, "");
  }
};

}  // namespace

std::vector<Token> Lex(std::string_view source) {
  Lexer lexer;
  lexer.src = Preprocess(source);
  lexer.Run();
  return std::move(lexer.out);
}

}  // namespace kvc::jinja
