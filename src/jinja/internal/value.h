// Run-time values of the Jinja interpreter. Strings carry per-byte provenance
// (Text); lists and dicts are shared by reference, as in Python. Not thread-safe:
// values live inside one Render call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvc::jinja {

// Thrown inside the interpreter (a deeply recursive evaluator); Template::Render
// turns it into an InvalidArgument status, so no exception leaves the library.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A string and, per byte, whether it came from the render data ('\1') or not ('\0').
struct Text {
  std::string s;
  std::string data;

  static Text Template(std::string v) {
    std::string d(v.size(), '\0');
    return {std::move(v), std::move(d)};
  }
  static Text Data(std::string v) {
    std::string d(v.size(), '\1');
    return {std::move(v), std::move(d)};
  }
  // Text computed from `inputs`: data if any input byte was data.
  static Text Derived(std::string v, bool from_data) {
    return from_data ? Data(std::move(v)) : Template(std::move(v));
  }
  bool AnyData() const { return data.find('\1') != std::string::npos; }
  void Append(const Text& o) {
    s += o.s;
    data += o.data;
  }
  Text Sub(size_t pos, size_t n = std::string::npos) const {
    return {s.substr(pos, n), data.substr(pos, n)};
  }
};

struct Value;
using Array = std::vector<Value>;

// Keyword-ordered dict (insertion order, like Python and JS).
struct Object {
  std::vector<std::pair<Text, Value>> items;
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  void Set(const Text& key, Value v);
};

struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> kwargs;
  // The argument at `index` or named `name`, nullptr when absent.
  const Value* Get(size_t index, std::string_view name) const;
};

using Function = std::function<Value(const Args&)>;

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kArray, kObject, kFunction };
  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  Text str;
  std::shared_ptr<Array> array;
  std::shared_ptr<Object> object;
  std::shared_ptr<Function> fn;
  bool is_namespace = false;  // namespace(): attributes assignable with set ns.x
  bool is_tuple = false;

  static Value None() { return Of(Kind::kNone); }
  static Value Bool(bool v) {
    Value r = Of(Kind::kBool);
    r.b = v;
    return r;
  }
  static Value Int(int64_t v) {
    Value r = Of(Kind::kInt);
    r.i = v;
    return r;
  }
  static Value Float(double v) {
    Value r = Of(Kind::kFloat);
    r.f = v;
    return r;
  }
  static Value String(Text t) {
    Value r = Of(Kind::kString);
    r.str = std::move(t);
    return r;
  }
  static Value TemplateString(std::string s) { return String(Text::Template(std::move(s))); }
  static Value List(Array items = {}) {
    Value r = Of(Kind::kArray);
    r.array = std::make_shared<Array>(std::move(items));
    return r;
  }
  static Value Dict(Object o = {}) {
    Value r = Of(Kind::kObject);
    r.object = std::make_shared<Object>(std::move(o));
    return r;
  }
  static Value Func(Function f) {
    Value r = Of(Kind::kFunction);
    r.fn = std::make_shared<Function>(std::move(f));
    return r;
  }
  // A JSON document as a value; its strings are data or template text by `from_data`.
  static Value FromJson(const nlohmann::ordered_json& j, bool from_data);

  bool IsUndefined() const { return kind == Kind::kUndefined; }
  bool IsString() const { return kind == Kind::kString; }
  bool IsNumber() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  double Number() const {
    return kind == Kind::kFloat ? f : static_cast<double>(kind == Kind::kBool ? b : i);
  }
  bool Truthy() const;
  // {{ value }} output, as @huggingface/jinja prints it (true, 1.0, JSON for containers).
  Text ToText() const;
  const char* TypeName() const;

 private:
  static Value Of(Kind k) {
    Value r;
    r.kind = k;
    return r;
  }
};

// JSON text as @huggingface/jinja's tojson writes it: ", " and ": " separators (","
// with an indent), strings escaped as JSON.stringify does, key order kept.
std::string ToJson(const Value& v, int indent, int depth = 0);

// Python-ish equality (==) and ordering (<) used by comparisons, `in`, sort, unique.
bool Equal(const Value& a, const Value& b);
bool Less(const Value& a, const Value& b);

}  // namespace kvc::jinja
