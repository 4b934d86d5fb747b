// Filters, tests, globals and the methods of strings, lists and dicts.
#pragma once

#include <string>

#include "src/jinja/internal/value.h"

namespace kvc::jinja {

// `operand | name(args)`. Throws Error for an unknown filter or bad arguments.
Value ApplyFilter(const std::string& name, const Value& operand, const Args& args);

// `operand is name(args)`. Throws Error for an unknown test.
bool ApplyTest(const std::string& name, const Value& operand, const Args& args);

// `object.name` / `object[key]`, including string/dict methods (as bound functions)
// and negative list indexes; undefined when absent.
Value GetMember(const Value& object, const Value& key);

// `object[start:stop:step]` for lists and strings (Python semantics).
Value Slice(const Value& object, const Value& start, const Value& stop, const Value& step);

// The global functions: namespace, range, raise_exception, strftime_now; undefined for
// other names.
Value Global(const std::string& name);

// Python-style str.strip family on Text, keeping provenance.
Text StripText(const Text& t, const std::string* chars, bool left, bool right);

}  // namespace kvc::jinja
