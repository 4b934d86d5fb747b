// Executes a parsed template. One Interpreter per Render call; not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/jinja/internal/ast.h"

namespace kvc::jinja {

// Variables of one block level; lookups fall through to the parent.
struct Scope {
  std::vector<std::pair<std::string, Value>> vars;
  Scope* parent = nullptr;
  const Value* Find(std::string_view name) const;
  void Set(const std::string& name, Value v);
};

class Interpreter {
 public:
  enum class Flow { kNormal, kBreak, kContinue };

  // `root` holds the render variables; it must outlive the interpreter.
  explicit Interpreter(Scope* root) : root_(root) {}

  // Appends the output of `body` to `out`. Throws Error on a render error.
  Flow Exec(const Body& body, Scope& scope, Text& out);

 private:
  Flow ExecOne(const Stmt& s, Scope& scope, Text& out);
  Flow ExecFor(const Stmt& s, Scope& scope, Text& out);
  void Assign(const Stmt& s, Value v, Scope& scope);
  Value MakeMacro(const Stmt& s, Scope* closure);
  Value Eval(const Expr& e, Scope& scope);
  Value EvalBinary(const Expr& e, Scope& scope);
  Args EvalArgs(const Expr& e, size_t first, Scope& scope);

  Scope* root_;
};

}  // namespace kvc::jinja
