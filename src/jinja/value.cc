#include "src/jinja/internal/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace kvc::jinja {

const Value* Object::Find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k.s == key) return &v;
  }
  return nullptr;
}

Value* Object::Find(std::string_view key) {
  for (auto& [k, v] : items) {
    if (k.s == key) return &v;
  }
  return nullptr;
}

void Object::Set(const Text& key, Value v) {
  if (Value* old = Find(key.s)) {
    *old = std::move(v);
  } else {
    items.emplace_back(key, std::move(v));
  }
}

const Value* Args::Get(size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [k, v] : kwargs) {
    if (k == name) return &v;
  }
  return nullptr;
}

Value Value::FromJson(const nlohmann::ordered_json& j, bool from_data) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return None();
    case nlohmann::ordered_json::value_t::boolean:
      return Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Int(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_float:
      return Float(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return String(Text::Derived(j.get<std::string>(), from_data));
    case nlohmann::ordered_json::value_t::array: {
      Array items;
      for (const auto& e : j) items.push_back(FromJson(e, from_data));
      return List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object o;
      for (const auto& [k, v] : j.items())
        o.Set(Text::Derived(k, from_data), FromJson(v, from_data));
      return Dict(std::move(o));
    }
    default:
      return Value();
  }
}

bool Value::Truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b;
    case Kind::kInt:
      return i != 0;
    case Kind::kFloat:
      return f != 0;
    case Kind::kString:
      return !str.s.empty();
    case Kind::kArray:
      return !array->empty();
    case Kind::kObject:
      return is_namespace || !object->items.empty();
    case Kind::kFunction:
      return true;
  }
  return false;
}

const char* Value::TypeName() const {
  switch (kind) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNone:
      return "none";
    case Kind::kBool:
      return "boolean";
    case Kind::kInt:
      return "integer";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "string";
    case Kind::kArray:
      return "list";
    case Kind::kObject:
      return "dict";
    case Kind::kFunction:
      return "function";
  }
  return "?";
}

namespace {

// Shortest round-trip form, as JavaScript's Number#toString for ordinary magnitudes.
std::string FormatDouble(double d) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// JSON.stringify of a string: escapes quote, backslash and control characters only.
std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

bool ContainsData(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kString:
      return v.str.AnyData();
    case Value::Kind::kArray:
      for (const auto& e : *v.array) {
        if (ContainsData(e)) return true;
      }
      return false;
    case Value::Kind::kObject:
      for (const auto& [k, e] : v.object->items) {
        if (k.AnyData() || ContainsData(e)) return true;
      }
      return false;
    default:
      return false;
  }
}

std::string ToJsonImpl(const Value& v, int indent, int depth, bool undefined_as_null) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return undefined_as_null ? "null" : "undefined";
    case Value::Kind::kNone:
      return "null";
    case Value::Kind::kBool:
      return v.b ? "true" : "false";
    case Value::Kind::kInt:
      return std::to_string(v.i);
    case Value::Kind::kFloat:
      return FormatDouble(v.f);
    case Value::Kind::kString:
      return JsonString(v.str.s);
    case Value::Kind::kFunction:
      throw Error("Cannot convert to JSON: function");
    default:
      break;
  }
  const std::string item_sep = indent > 0 ? "," : ", ";
  const std::string pad = indent > 0 ? "\n" + std::string(indent * depth, ' ') : "";
  const std::string child_pad = indent > 0 ? pad + std::string(indent, ' ') : "";
  std::vector<std::string> core;
  const bool is_array = v.kind == Value::Kind::kArray;
  if (is_array) {
    for (const auto& e : *v.array)
      core.push_back(ToJsonImpl(e, indent, depth + 1, undefined_as_null));
  } else {
    for (const auto& [k, e] : v.object->items) {
      core.push_back(child_pad + JsonString(k.s) + ": " +
                     ToJsonImpl(e, indent, depth + 1, undefined_as_null));
    }
  }
  std::string out = is_array ? "[" : "{";
  if (is_array && indent > 0 && !core.empty()) out += child_pad;
  for (size_t n = 0; n < core.size(); ++n) {
    if (n > 0) out += item_sep + (is_array ? child_pad : "");
    out += core[n];
  }
  if (indent > 0 && !core.empty()) out += pad;
  return out + (is_array ? "]" : "}");
}

}  // namespace

std::string ToJson(const Value& v, int indent, int depth) {
  return ToJsonImpl(v, indent, depth, true);
}

Text Value::ToText() const {
  switch (kind) {
    case Kind::kUndefined:
      return {};
    case Kind::kNone:
      return Text::Template("null");
    case Kind::kBool:
      return Text::Template(b ? "true" : "false");
    case Kind::kInt:
      return Text::Template(std::to_string(i));
    case Kind::kFloat:
      if (f == 0 && std::signbit(f)) return Text::Template("-0.0");
      if (std::floor(f) == f && std::isfinite(f)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.1f", f);
        return Text::Template(buf);
      }
      return Text::Template(FormatDouble(f));
    case Kind::kString:
      return str;
    case Kind::kArray:
    case Kind::kObject:
      return Text::Derived(ToJsonImpl(*this, 0, 0, false), ContainsData(*this));
    case Kind::kFunction:
      return Text::Template("[function]");
  }
  return {};
}

bool Equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if ((a.IsNumber() || a.kind == K::kBool) && (b.IsNumber() || b.kind == K::kBool)) {
    if (a.kind == K::kBool || b.kind == K::kBool) {
      if (a.kind != b.kind) return false;  // JS: true !== 1
      return a.b == b.b;
    }
    return a.Number() == b.Number();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::kUndefined:
    case K::kNone:
      return true;
    case K::kString:
      return a.str.s == b.str.s;
    case K::kArray:
    case K::kObject:
      return a.array == b.array && a.object == b.object;  // identity, as JS ===
    default:
      return false;
  }
}

bool Less(const Value& a, const Value& b) {
  if (a.IsString() && b.IsString()) return a.str.s < b.str.s;
  if ((a.IsNumber() || a.kind == Value::Kind::kBool) &&
      (b.IsNumber() || b.kind == Value::Kind::kBool))
    return a.Number() < b.Number();
  throw Error(std::string("Cannot compare ") + a.TypeName() + " with " + b.TypeName());
}

}  // namespace kvc::jinja
