#include "src/jinja/internal/interpreter.h"

#include <cmath>

#include "src/jinja/internal/builtins.h"

namespace kvc::jinja {
namespace {

using VK = Value::Kind;
using EK = Expr::Kind;
using SK = Stmt::Kind;

Value Arith(const std::string& op, const Value& a, const Value& b) {
  if (op == "+" && a.kind == VK::kArray && b.kind == VK::kArray) {
    Array items = *a.array;
    items.insert(items.end(), b.array->begin(), b.array->end());
    return Value::List(std::move(items));
  }
  if (op == "+" && (a.IsString() || b.IsString())) {
    if (a.IsUndefined() || b.IsUndefined() || a.kind == VK::kNone || b.kind == VK::kNone)
      throw Error("cannot add a string and " + std::string((a.IsString() ? b : a).TypeName()));
    Text t = a.ToText();
    t.Append(b.ToText());
    return Value::String(t);
  }
  if (op == "*" && a.IsString() && b.kind == VK::kInt) {
    Text t;
    for (int64_t n = 0; n < b.i; ++n) t.Append(a.str);
    return Value::String(t);
  }
  const bool numeric =
      (a.IsNumber() || a.kind == VK::kBool) && (b.IsNumber() || b.kind == VK::kBool);
  if (!numeric)
    throw Error("cannot apply '" + op + "' to " + a.TypeName() + " and " + b.TypeName());
  const bool ints = a.kind != VK::kFloat && b.kind != VK::kFloat;
  const double x = a.Number(), y = b.Number();
  if (op == "/") {
    if (y == 0) throw Error("division by zero");
    return Value::Float(x / y);
  }
  if (op == "//" || op == "%") {
    if (y == 0) throw Error("division by zero");
    if (ints) {
      const int64_t p = static_cast<int64_t>(x), q = static_cast<int64_t>(y);
      int64_t d = p / q, m = p % q;
      if (m != 0 && ((m < 0) != (q < 0))) {
        --d;
        m += q;
      }
      return Value::Int(op == "//" ? d : m);
    }
    const double d = std::floor(x / y);
    return Value::Float(op == "//" ? d : x - d * y);
  }
  if (op == "**")
    return ints && y >= 0 ? Value::Int(static_cast<int64_t>(std::pow(x, y)))
                          : Value::Float(std::pow(x, y));
  const double r = op == "+" ? x + y : op == "-" ? x - y : x * y;
  return ints ? Value::Int(static_cast<int64_t>(r)) : Value::Float(r);
}

bool Contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case VK::kString:
      return item.IsString() && container.str.s.find(item.str.s) != std::string::npos;
    case VK::kArray:
      for (const auto& e : *container.array) {
        if (Equal(e, item)) return true;
      }
      return false;
    case VK::kObject:
      return item.IsString() && container.object->Find(item.str.s) != nullptr;
    case VK::kUndefined:
      return false;
    default:
      throw Error(std::string("'in' needs a string, list or dict, not ") + container.TypeName());
  }
}

}  // namespace

const Value* Scope::Find(std::string_view name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent) {
    for (const auto& [k, v] : s->vars) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Scope::Set(const std::string& name, Value v) {
  for (auto& [k, old] : vars) {
    if (k == name) {
      old = std::move(v);
      return;
    }
  }
  vars.emplace_back(name, std::move(v));
}

Value Interpreter::Eval(const Expr& e, Scope& scope) {
  switch (e.kind) {
    case EK::kLiteral:
      return e.literal;
    case EK::kName: {
      if (const Value* v = scope.Find(e.name)) return *v;
      return Global(e.name);
    }
    case EK::kList:
    case EK::kTuple: {
      Array items;
      for (const auto& a : e.args) items.push_back(Eval(*a, scope));
      Value v = Value::List(std::move(items));
      v.is_tuple = e.kind == EK::kTuple;
      return v;
    }
    case EK::kDict: {
      Value d = Value::Dict();
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        Value key = Eval(*e.args[i], scope);
        d.object->Set(key.ToText(), Eval(*e.args[i + 1], scope));
      }
      return d;
    }
    case EK::kGetAttr:
      return GetMember(Eval(*e.args[0], scope), Value::TemplateString(e.name));
    case EK::kGetItem:
      return GetMember(Eval(*e.args[0], scope), Eval(*e.args[1], scope));
    case EK::kSlice: {
      auto opt = [&](size_t i) { return e.args[i] ? Eval(*e.args[i], scope) : Value(); };
      return Slice(Eval(*e.args[0], scope), opt(1), opt(2), opt(3));
    }
    case EK::kCall: {
      Value fn = Eval(*e.args[0], scope);
      if (fn.kind != VK::kFunction)
        throw Error("line " + std::to_string(e.line) + ": value is not callable");
      return (*fn.fn)(EvalArgs(e, 1, scope));
    }
    case EK::kFilter:
      return ApplyFilter(e.name, Eval(*e.args[0], scope), EvalArgs(e, 1, scope));
    case EK::kTest:
      return Value::Bool(ApplyTest(e.name, Eval(*e.args[0], scope), EvalArgs(e, 1, scope)) !=
                         e.negate);
    case EK::kUnary: {
      Value v = Eval(*e.args[0], scope);
      if (e.name == "not") return Value::Bool(!v.Truthy());
      if (v.kind == VK::kInt) return Value::Int(e.name == "-" ? -v.i : v.i);
      if (v.kind == VK::kFloat) return Value::Float(e.name == "-" ? -v.f : v.f);
      throw Error(std::string("unary ") + e.name + " on " + v.TypeName());
    }
    case EK::kBinary:
      return EvalBinary(e, scope);
    case EK::kTernary:
      if (Eval(*e.args[1], scope).Truthy()) return Eval(*e.args[0], scope);
      return e.args[2] ? Eval(*e.args[2], scope) : Value();
  }
  return Value();
}

Args Interpreter::EvalArgs(const Expr& e, size_t first, Scope& scope) {
  Args a;
  for (size_t i = first; i < e.args.size(); ++i) a.positional.push_back(Eval(*e.args[i], scope));
  for (const auto& [k, v] : e.kwargs) a.kwargs.emplace_back(k, Eval(*v, scope));
  return a;
}

Value Interpreter::EvalBinary(const Expr& e, Scope& scope) {
  const std::string& op = e.name;
  Value a = Eval(*e.args[0], scope);
  if (op == "and") return a.Truthy() ? Eval(*e.args[1], scope) : a;
  if (op == "or") return a.Truthy() ? a : Eval(*e.args[1], scope);
  Value b = Eval(*e.args[1], scope);
  if (op == "==") return Value::Bool(Equal(a, b));
  if (op == "!=") return Value::Bool(!Equal(a, b));
  if (op == "<") return Value::Bool(Less(a, b));
  if (op == ">") return Value::Bool(Less(b, a));
  if (op == "<=") return Value::Bool(!Less(b, a));
  if (op == ">=") return Value::Bool(!Less(a, b));
  if (op == "in") return Value::Bool(Contains(b, a));
  if (op == "not in") return Value::Bool(!Contains(b, a));
  if (op == "~") {
    Text t = a.ToText();
    t.Append(b.ToText());
    return Value::String(t);
  }
  return Arith(op, a, b);
}

Interpreter::Flow Interpreter::Exec(const Body& body, Scope& scope, Text& out) {
  for (const Stmt& s : body) {
    const Flow flow = ExecOne(s, scope, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::ExecOne(const Stmt& s, Scope& scope, Text& out) {
  switch (s.kind) {
    case SK::kText:
      out.Append(Text::Template(s.text));
      return Flow::kNormal;
    case SK::kOutput:
      out.Append(Eval(*s.expr, scope).ToText());
      return Flow::kNormal;
    case SK::kIf:
      return Exec(Eval(*s.expr, scope).Truthy() ? s.body : s.else_body, scope, out);
    case SK::kFor:
      return ExecFor(s, scope, out);
    case SK::kSet:
      Assign(s, Eval(*s.expr, scope), scope);
      return Flow::kNormal;
    case SK::kSetBlock: {
      Text captured;
      Exec(s.body, scope, captured);
      Assign(s, Value::String(captured), scope);
      return Flow::kNormal;
    }
    case SK::kMacro:
      scope.Set(s.targets[0], MakeMacro(s, nullptr));
      return Flow::kNormal;
    case SK::kCallBlock: {
      Scope inner{{}, &scope};
      inner.Set("caller", MakeMacro(s, &scope));
      out.Append(Eval(*s.expr, inner).ToText());
      return Flow::kNormal;
    }
    case SK::kBreak:
      return Flow::kBreak;
    case SK::kContinue:
      return Flow::kContinue;
    case SK::kFilterBlock: {
      Text captured;
      Exec(s.body, scope, captured);
      out.Append(ApplyFilter(s.targets[0], Value::String(captured), Args{}).ToText());
      return Flow::kNormal;
    }
  }
  return Flow::kNormal;
}

void Interpreter::Assign(const Stmt& s, Value v, Scope& scope) {
  if (s.attr.empty()) {
    scope.Set(s.targets[0], std::move(v));
    return;
  }
  const Value* ns = scope.Find(s.targets[0]);
  if (ns == nullptr || ns->kind != VK::kObject || !ns->is_namespace)
    throw Error("line " + std::to_string(s.line) + ": cannot set an attribute of '" + s.targets[0] +
                "'");
  ns->object->Set(Text::Template(s.attr), std::move(v));
}

Interpreter::Flow Interpreter::ExecFor(const Stmt& s, Scope& scope, Text& out) {
  Value iterable = Eval(*s.expr, scope);
  Array items;
  if (iterable.kind == VK::kObject) {
    for (const auto& [k, v] : iterable.object->items) items.push_back(Value::String(k));
  } else if (iterable.kind == VK::kArray) {
    items = *iterable.array;
  } else if (iterable.IsString()) {
    for (size_t i = 0; i < iterable.str.s.size(); ++i)
      items.push_back(Value::String(iterable.str.Sub(i, 1)));
  } else if (!iterable.IsUndefined() && iterable.kind != VK::kNone) {
    throw Error("line " + std::to_string(s.line) + ": cannot iterate over " + iterable.TypeName());
  }
  Scope inner{{}, &scope};
  auto bind = [&](const Value& item) {
    if (s.targets.size() == 1) {
      inner.Set(s.targets[0], item);
      return;
    }
    if (item.kind != VK::kArray || item.array->size() != s.targets.size())
      throw Error("line " + std::to_string(s.line) + ": cannot unpack loop item");
    for (size_t t = 0; t < s.targets.size(); ++t) inner.Set(s.targets[t], (*item.array)[t]);
  };
  if (s.cond) {  // `for x in xs if cond`: filter first, so loop.length counts the kept items
    Array kept;
    for (const auto& item : items) {
      bind(item);
      if (Eval(*s.cond, inner).Truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    bind(items[i]);
    Value loop = Value::Dict();
    Object& o = *loop.object;
    o.Set(Text::Template("index"), Value::Int(i + 1));
    o.Set(Text::Template("index0"), Value::Int(i));
    o.Set(Text::Template("revindex"), Value::Int(n - i));
    o.Set(Text::Template("revindex0"), Value::Int(n - i - 1));
    o.Set(Text::Template("first"), Value::Bool(i == 0));
    o.Set(Text::Template("last"), Value::Bool(i == n - 1));
    o.Set(Text::Template("length"), Value::Int(n));
    o.Set(Text::Template("previtem"), i > 0 ? items[i - 1] : Value());
    o.Set(Text::Template("nextitem"), i + 1 < n ? items[i + 1] : Value());
    o.Set(Text::Template("cycle"), Value::Func([i](const Args& a) {
            return a.positional.empty() ? Value() : a.positional[i % a.positional.size()];
          }));
    inner.Set("loop", std::move(loop));
    if (Exec(s.body, inner, out) == Flow::kBreak) break;
  }
  if (n == 0) return Exec(s.else_body, scope, out);
  return Flow::kNormal;
}

Value Interpreter::MakeMacro(const Stmt& s, Scope* closure) {
  Scope* parent = closure != nullptr ? closure : root_;
  return Value::Func([this, &s, parent](const Args& a) {
    Scope inner{{}, parent};
    size_t next = 0;
    for (const auto& [name, def] : s.params) {
      const Value* v = a.Get(next++, name);
      inner.Set(name, v != nullptr ? *v : def ? Eval(*def, inner) : Value());
    }
    Text out;
    Exec(s.body, inner, out);
    return Value::String(out);
  });
}

}  // namespace kvc::jinja
