// Tokens and syntax tree of a parsed template. Immutable after parsing.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/jinja/internal/value.h"

namespace kvc::jinja {

struct Token {
  enum class Kind {
    kText,
    kOpenStmt,
    kCloseStmt,
    kOpenExpr,
    kCloseExpr,
    kName,
    kString,
    kInt,
    kFloat,
    kOp,
    kEnd
  };
  Kind kind;
  std::string value;
  int line = 1;
};

// Splits the (preprocessed) template into tokens, applying whitespace control.
// Throws Error on a malformed template.
std::vector<Token> Lex(std::string_view source);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kList,     // args = items
    kTuple,    // args = items
    kDict,     // args = key, value, key, value...
    kGetAttr,  // args[0].name
    kGetItem,  // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]], null = omitted
    kCall,     // args[0](args[1..], kwargs)
    kFilter,   // args[0] | name(args[1..], kwargs)
    kTest,     // args[0] is [not] name(args[1..])
    kUnary,    // name = "not" | "-" | "+", args[0]
    kBinary,   // args[0] name args[1]
    kTernary,  // args[0] if args[1] else args[2] (null: undefined)
  };
  Kind kind;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negate = false;
  int line = 1;
};

struct Stmt;
using Body = std::vector<Stmt>;

struct Stmt {
  enum class Kind {
    kText,
    kOutput,
    kIf,
    kFor,
    kSet,
    kSetBlock,
    kMacro,
    kCallBlock,
    kBreak,
    kContinue,
    kFilterBlock
  };
  explicit Stmt(Kind k, std::string t = {}) : kind(k), text(std::move(t)) {}
  Kind kind;
  std::string text;                  // kText
  ExprPtr expr;                      // output / if condition / for iterable / set value / call
  std::vector<std::string> targets;  // for: loop names; set: target name; macro: name
  std::string attr;                  // set ns.attr: the attribute
  ExprPtr cond;                      // for ... if cond
  Body body, else_body;              // elif chains nest in else_body
  std::vector<std::pair<std::string, ExprPtr>>
      params;  // macro / call parameters, defaults may be null
  int line = 1;
};

// Parses the tokens into statements. Throws Error naming the line on a syntax error.
Body ParseTokens(const std::vector<Token>& tokens);

}  // namespace kvc::jinja
