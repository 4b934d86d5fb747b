#include "src/jinja/internal/builtins.h"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace kvc::jinja {
namespace {

using VK = Value::Kind;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

const std::string& StringArg(const Args& a, size_t index, const char* name, const char* what) {
  const Value* v = a.Get(index, name);
  if (v == nullptr || !v->IsString())
    throw Error(std::string(what) + ": argument must be a string");
  return v->str.s;
}

Text MapChars(const Text& t, int (*f)(int)) {
  Text r = t;
  for (char& c : r.s) c = static_cast<char>(f(static_cast<unsigned char>(c)));
  return r;
}

Text Title(const Text& t) {
  Text r = t;
  bool start = true;
  for (char& c : r.s) {
    const unsigned char u = static_cast<unsigned char>(c);
    c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = IsSpace(c) || c == '-' || c == '(' || c == '[' || c == '{';
  }
  return r;
}

Text Capitalize(const Text& t) {
  Text r = MapChars(t, [](int c) { return std::tolower(c); });
  if (!r.s.empty()) r.s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r.s[0])));
  return r;
}

Value Split(const Text& t, const Args& a) {
  const Value* sep = a.Get(0, "sep");
  const Value* max = a.Get(1, "maxsplit");
  const int64_t maxsplit = max != nullptr && max->kind == VK::kInt ? max->i : -1;
  Array out;
  if (sep == nullptr || sep->kind == VK::kNone) {
    size_t i = 0;
    while (i < t.s.size()) {
      while (i < t.s.size() && IsSpace(t.s[i])) ++i;
      if (i >= t.s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        out.push_back(Value::String(t.Sub(i)));
        break;
      }
      size_t j = i;
      while (j < t.s.size() && !IsSpace(t.s[j])) ++j;
      out.push_back(Value::String(t.Sub(i, j - i)));
      i = j;
    }
    return Value::List(std::move(out));
  }
  if (!sep->IsString() || sep->str.s.empty()) throw Error("split: bad separator");
  const std::string& s = sep->str.s;
  size_t start = 0;
  while (true) {
    size_t at = t.s.find(s, start);
    if (at == std::string::npos ||
        (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit)) {
      out.push_back(Value::String(t.Sub(start)));
      break;
    }
    out.push_back(Value::String(t.Sub(start, at - start)));
    start = at + s.size();
  }
  return Value::List(std::move(out));
}

Value Replace(const Text& t, const Args& a) {
  const std::string& from = StringArg(a, 0, "old", "replace");
  const Value* to = a.Get(1, "new");
  if (to == nullptr || !to->IsString()) throw Error("replace: arguments must be strings");
  const Value* count = a.Get(2, "count");
  int64_t left = count != nullptr && count->kind == VK::kInt ? count->i : -1;
  Text out;
  size_t pos = 0;
  if (from.empty()) {  // Python: insert between every character
    for (size_t i = 0; i <= t.s.size(); ++i) {
      if (left != 0) {
        out.Append(to->str);
        --left;
      }
      if (i < t.s.size()) out.Append(t.Sub(i, 1));
    }
    return Value::String(out);
  }
  while (left != 0) {
    size_t at = t.s.find(from, pos);
    if (at == std::string::npos) break;
    out.Append(t.Sub(pos, at - pos));
    out.Append(to->str);
    pos = at + from.size();
    --left;
  }
  out.Append(t.Sub(pos));
  return Value::String(out);
}

bool AffixMatch(const Text& t, const Value& affix, bool prefix) {
  auto one = [&](const std::string& s) {
    if (s.size() > t.s.size()) return false;
    return prefix ? t.s.compare(0, s.size(), s) == 0
                  : t.s.compare(t.s.size() - s.size(), s.size(), s) == 0;
  };
  if (affix.IsString()) return one(affix.str.s);
  if (affix.kind == VK::kArray) {
    for (const auto& e : *affix.array) {
      if (e.IsString() && one(e.str.s)) return true;
    }
    return false;
  }
  throw Error(std::string(prefix ? "startswith" : "endswith") +
              ": argument must be a string or tuple");
}

Value StringMethod(const Text& t, const std::string& name) {
  auto bind = [&](auto f) { return Value::Func([t, f](const Args& a) { return f(t, a); }); };
  if (name == "upper")
    return bind([](const Text& s, const Args&) {
      return Value::String(MapChars(s, [](int c) { return std::toupper(c); }));
    });
  if (name == "lower")
    return bind([](const Text& s, const Args&) {
      return Value::String(MapChars(s, [](int c) { return std::tolower(c); }));
    });
  if (name == "title")
    return bind([](const Text& s, const Args&) { return Value::String(Title(s)); });
  if (name == "capitalize")
    return bind([](const Text& s, const Args&) { return Value::String(Capitalize(s)); });
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool l = name != "rstrip", r = name != "lstrip";
    return bind([l, r](const Text& s, const Args& a) {
      const Value* chars = a.Get(0, "chars");
      const bool have = chars != nullptr && chars->IsString();
      return Value::String(StripText(s, have ? &chars->str.s : nullptr, l, r));
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool prefix = name == "startswith";
    return bind([prefix](const Text& s, const Args& a) {
      const Value* v = a.Get(0, "prefix");
      if (v == nullptr) throw Error("startswith/endswith: missing argument");
      return Value::Bool(AffixMatch(s, *v, prefix));
    });
  }
  if (name == "split") return bind([](const Text& s, const Args& a) { return Split(s, a); });
  if (name == "replace") return bind([](const Text& s, const Args& a) { return Replace(s, a); });
  if (name == "length") return Value::Int(static_cast<int64_t>(t.s.size()));
  return Value();
}

Value Items(const Object& o) {
  Array out;
  for (const auto& [k, v] : o.items) {
    Value pair = Value::List({Value::String(k), v});
    pair.is_tuple = true;
    out.push_back(std::move(pair));
  }
  return Value::List(std::move(out));
}

Value DictMethod(const Value& d, const std::string& name) {
  auto obj = d.object;
  if (name == "get") {
    return Value::Func([obj](const Args& a) {
      const Value* key = a.Get(0, "key");
      if (key == nullptr || !key->IsString()) throw Error("get: key must be a string");
      if (const Value* v = obj->Find(key->str.s)) return *v;
      const Value* def = a.Get(1, "default");
      return def != nullptr ? *def : Value::None();
    });
  }
  if (name == "items") return Value::Func([obj](const Args&) { return Items(*obj); });
  if (name == "keys" || name == "values") {
    const bool keys = name == "keys";
    return Value::Func([obj, keys](const Args&) {
      Array out;
      for (const auto& [k, v] : obj->items) out.push_back(keys ? Value::String(k) : v);
      return Value::List(std::move(out));
    });
  }
  return Value();
}

int64_t Length(const Value& v) {
  switch (v.kind) {
    case VK::kString:
      return static_cast<int64_t>(v.str.s.size());
    case VK::kArray:
      return static_cast<int64_t>(v.array->size());
    case VK::kObject:
      return static_cast<int64_t>(v.object->items.size());
    default:
      throw Error(std::string("length: cannot take the length of ") + v.TypeName());
  }
}

// The items a filter iterates: list items, string characters, dict keys.
Array Iterate(const Value& v) {
  if (v.kind == VK::kArray) return *v.array;
  Array out;
  if (v.kind == VK::kString) {
    for (size_t i = 0; i < v.str.s.size(); ++i) out.push_back(Value::String(v.str.Sub(i, 1)));
  } else if (v.kind == VK::kObject) {
    for (const auto& [k, e] : v.object->items) out.push_back(Value::String(k));
  } else {
    throw Error(std::string("cannot iterate over ") + v.TypeName());
  }
  return out;
}

Value Attribute(const Value& item, const std::string& path) {
  Value cur = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    cur = GetMember(cur, Value::TemplateString(path.substr(start, dot - start)));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

Value SelectAttr(const Value& operand, const Args& a, bool reject) {
  const std::string& attr = StringArg(a, 0, "attribute", "selectattr");
  Args test_args;
  for (size_t i = 2; i < a.positional.size(); ++i) test_args.positional.push_back(a.positional[i]);
  Array out;
  for (const auto& item : Iterate(operand)) {
    Value v = Attribute(item, attr);
    bool ok = a.positional.size() > 1 ? ApplyTest(a.positional[1].str.s, v, test_args) : v.Truthy();
    if (ok != reject) out.push_back(item);
  }
  return Value::List(std::move(out));
}

Value Select(const Value& operand, const Args& a, bool reject) {
  Args test_args;
  for (size_t i = 1; i < a.positional.size(); ++i) test_args.positional.push_back(a.positional[i]);
  Array out;
  for (const auto& item : Iterate(operand)) {
    bool ok =
        a.positional.empty() ? item.Truthy() : ApplyTest(a.positional[0].str.s, item, test_args);
    if (ok != reject) out.push_back(item);
  }
  return Value::List(std::move(out));
}

Value Map(const Value& operand, const Args& a) {
  Array out;
  const Value* attr = a.Get(99, "attribute");
  for (const auto& item : Iterate(operand)) {
    if (attr != nullptr) {
      Value v = Attribute(item, attr->str.s);
      if (v.IsUndefined()) {
        const Value* def = a.Get(99, "default");
        v = def != nullptr ? *def : v;
      }
      out.push_back(v);
    } else {
      Args rest;
      for (size_t i = 1; i < a.positional.size(); ++i) rest.positional.push_back(a.positional[i]);
      out.push_back(ApplyFilter(StringArg(a, 0, "filter", "map"), item, rest));
    }
  }
  return Value::List(std::move(out));
}

Value Join(const Value& operand, const Args& a) {
  const Value* sep = a.Get(0, "d");
  const Value* attr = a.Get(1, "attribute");
  Text out;
  bool first = true;
  for (const auto& item : Iterate(operand)) {
    if (!first && sep != nullptr) out.Append(sep->ToText());
    first = false;
    out.Append(attr != nullptr ? Attribute(item, attr->str.s).ToText() : item.ToText());
  }
  return Value::String(out);
}

Value Indent(const Value& operand, const Args& a) {
  const Value* w = a.Get(0, "width");
  const Value* first = a.Get(1, "first");
  const Value* blank = a.Get(2, "blank");
  const std::string pad =
      w != nullptr && w->IsString() ? w->str.s : std::string(w != nullptr ? w->i : 4, ' ');
  const Text p = Text::Template(pad);
  const Text& t = operand.str;
  Text out;
  size_t start = 0;
  bool first_line = true;
  while (start <= t.s.size()) {
    size_t nl = t.s.find('\n', start);
    const size_t end = nl == std::string::npos ? t.s.size() : nl;
    const bool empty = end == start;
    if ((!first_line || (first != nullptr && first->Truthy())) &&
        (!empty || (blank != nullptr && blank->Truthy())))
      out.Append(p);
    out.Append(t.Sub(start, end - start + (nl == std::string::npos ? 0 : 1)));
    first_line = false;
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return Value::String(out);
}

Value Sort(const Value& operand, const Args& a) {
  Array items = Iterate(operand);
  const Value* reverse = a.Get(0, "reverse");
  const Value* attr = a.Get(2, "attribute");
  auto key = [&](const Value& v) { return attr != nullptr ? Attribute(v, attr->str.s) : v; };
  std::stable_sort(items.begin(), items.end(),
                   [&](const Value& x, const Value& y) { return Less(key(x), key(y)); });
  if (reverse != nullptr && reverse->Truthy()) std::reverse(items.begin(), items.end());
  return Value::List(std::move(items));
}

Value ToString(const Value& operand) { return Value::String(operand.ToText()); }

}  // namespace

Text StripText(const Text& t, const std::string* chars, bool left, bool right) {
  auto strip = [&](char c) {
    return chars != nullptr ? chars->find(c) != std::string::npos : IsSpace(c);
  };
  size_t b = 0, e = t.s.size();
  if (left) {
    while (b < e && strip(t.s[b])) ++b;
  }
  if (right) {
    while (e > b && strip(t.s[e - 1])) --e;
  }
  return t.Sub(b, e - b);
}

Value GetMember(const Value& object, const Value& key) {
  switch (object.kind) {
    case VK::kObject:
      if (key.IsString()) {
        if (const Value* v = object.object->Find(key.str.s)) return *v;
        return object.is_namespace ? Value() : DictMethod(object, key.str.s);
      }
      return Value();
    case VK::kArray:
      if (key.kind == VK::kInt) {
        const int64_t n = static_cast<int64_t>(object.array->size());
        const int64_t i = key.i < 0 ? key.i + n : key.i;
        return i >= 0 && i < n ? (*object.array)[i] : Value();
      }
      if (key.IsString() && key.str.s == "length")
        return Value::Int(static_cast<int64_t>(object.array->size()));
      return Value();
    case VK::kString:
      if (key.kind == VK::kInt) {
        const int64_t n = static_cast<int64_t>(object.str.s.size());
        const int64_t i = key.i < 0 ? key.i + n : key.i;
        return i >= 0 && i < n ? Value::String(object.str.Sub(i, 1)) : Value();
      }
      return key.IsString() ? StringMethod(object.str, key.str.s) : Value();
    default:
      return Value();
  }
}

Value Slice(const Value& object, const Value& start, const Value& stop, const Value& step_v) {
  const int64_t n = object.kind == VK::kArray ? static_cast<int64_t>(object.array->size())
                    : object.IsString()
                        ? static_cast<int64_t>(object.str.s.size())
                        : throw Error(std::string("cannot slice ") + object.TypeName());
  const int64_t step = step_v.kind == VK::kInt ? step_v.i : 1;
  if (step == 0) throw Error("slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t def) {
    if (v.kind != VK::kInt) return def;
    int64_t i = v.i < 0 ? v.i + n : v.i;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t b = clamp(start, step > 0 ? 0 : n - 1);
  const int64_t e = clamp(stop, step > 0 ? n : -1);
  Array items;
  Text text;
  for (int64_t i = b; step > 0 ? i < e : i > e; i += step) {
    if (object.kind == VK::kArray) {
      items.push_back((*object.array)[i]);
    } else {
      text.Append(object.str.Sub(i, 1));
    }
  }
  return object.kind == VK::kArray ? Value::List(std::move(items)) : Value::String(text);
}

Value ApplyFilter(const std::string& name, const Value& v, const Args& a) {
  if (name == "trim") {
    const Value* chars = a.Get(0, "chars");
    return Value::String(StripText(
        v.ToText(), chars != nullptr && chars->IsString() ? &chars->str.s : nullptr, true, true));
  }
  if (name == "tojson") {
    const Value* indent = a.Get(0, "indent");
    const bool data = v.ToText().AnyData() || v.kind == VK::kObject || v.kind == VK::kArray;
    return Value::String(Text::Derived(
        ToJson(v, indent != nullptr && indent->kind == VK::kInt ? indent->i : 0), data));
  }
  if (name == "length" || name == "count") return Value::Int(Length(v));
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize")
    return (*StringMethod(v.ToText(), name).fn)(Args{});
  if (name == "default" || name == "d") {
    const Value* def = a.Get(0, "default_value");
    const Value* boolean = a.Get(1, "boolean");
    const bool use = v.IsUndefined() || (boolean != nullptr && boolean->Truthy() && !v.Truthy());
    return use ? (def != nullptr ? *def : Value::TemplateString("")) : v;
  }
  if (name == "items") {
    if (v.kind != VK::kObject) throw Error("items: value is not a dict");
    return Items(*v.object);
  }
  if (name == "join") return Join(v, a);
  if (name == "first" || name == "last") {
    if (v.IsString())
      return v.str.s.empty()
                 ? Value()
                 : Value::String(v.str.Sub(name == "first" ? 0 : v.str.s.size() - 1, 1));
    Array items = Iterate(v);
    if (items.empty()) return Value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "selectattr" || name == "rejectattr") return SelectAttr(v, a, name == "rejectattr");
  if (name == "select" || name == "reject") return Select(v, a, name == "reject");
  if (name == "map") return Map(v, a);
  if (name == "list") return Value::List(Iterate(v));
  if (name == "string" || name == "safe" || name == "e" || name == "escape")
    return name == "string" ? ToString(v) : v;
  if (name == "int") {
    if (v.kind == VK::kInt) return v;
    if (v.kind == VK::kFloat) return Value::Int(static_cast<int64_t>(v.f));
    try {
      return Value::Int(v.IsString() ? std::stoll(v.str.s) : 0);
    } catch (const std::exception&) {
      return Value::Int(0);
    }
  }
  if (name == "float") return Value::Float(v.IsString() ? std::atof(v.str.s.c_str()) : v.Number());
  if (name == "abs")
    return v.kind == VK::kInt ? Value::Int(v.i < 0 ? -v.i : v.i)
                              : Value::Float(std::abs(v.Number()));
  if (name == "reverse") {
    if (v.IsString()) return Slice(v, Value(), Value(), Value::Int(-1));
    Array items = Iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::List(std::move(items));
  }
  if (name == "sort") return Sort(v, a);
  if (name == "unique") {
    Array out;
    for (const auto& item : Iterate(v)) {
      if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return Equal(o, item); }))
        out.push_back(item);
    }
    return Value::List(std::move(out));
  }
  if (name == "replace") return Replace(v.ToText(), a);
  if (name == "indent") return Indent(v, a);
  if (name == "dictsort") {
    if (v.kind != VK::kObject) throw Error("dictsort: value is not a dict");
    Value items = Items(*v.object);
    std::stable_sort(items.array->begin(), items.array->end(), [](const Value& x, const Value& y) {
      return Less((*x.array)[0], (*y.array)[0]);
    });
    return items;
  }
  throw Error("unknown filter '" + name + "'");
}

bool ApplyTest(const std::string& name, const Value& v, const Args& a) {
  const Value* arg = a.Get(0, "value");
  if (name == "defined") return !v.IsUndefined();
  if (name == "undefined") return v.IsUndefined();
  if (name == "none") return v.kind == VK::kNone;
  if (name == "string") return v.IsString();
  if (name == "number") return v.IsNumber();
  if (name == "integer") return v.kind == VK::kInt;
  if (name == "float") return v.kind == VK::kFloat;
  if (name == "boolean") return v.kind == VK::kBool;
  if (name == "true") return v.kind == VK::kBool && v.b;
  if (name == "false") return v.kind == VK::kBool && !v.b;
  if (name == "iterable") return v.kind == VK::kArray || v.IsString();
  if (name == "mapping") return v.kind == VK::kObject;
  if (name == "sequence") return v.kind == VK::kArray || v.IsString();
  if (name == "callable") return v.kind == VK::kFunction;
  if (name == "odd" || name == "even") {
    if (v.kind != VK::kInt) throw Error("odd/even: value is not an integer");
    return (((v.i % 2) + 2) % 2 == 1) == (name == "odd");
  }
  if (name == "lower" || name == "upper") {
    if (!v.IsString()) return false;
    const bool lower = name == "lower";
    return std::all_of(v.str.s.begin(), v.str.s.end(), [&](char c) {
      return lower ? !std::isupper(static_cast<unsigned char>(c))
                   : !std::islower(static_cast<unsigned char>(c));
    });
  }
  if (name == "equalto" || name == "eq" || name == "sameas")
    return arg != nullptr && Equal(v, *arg);
  if (name == "ne") return arg == nullptr || !Equal(v, *arg);
  if (name == "in") {
    if (arg == nullptr) return false;
    if (arg->IsString() && v.IsString()) return arg->str.s.find(v.str.s) != std::string::npos;
    for (const auto& item : Iterate(*arg)) {
      if (Equal(item, v)) return true;
    }
    return false;
  }
  if (name == "divisibleby") return arg != nullptr && arg->i != 0 && v.i % arg->i == 0;
  throw Error("unknown test '" + name + "'");
}

Value Global(const std::string& name) {
  if (name == "namespace") {
    return Value::Func([](const Args& a) {
      Value ns = Value::Dict();
      ns.is_namespace = true;
      if (!a.positional.empty() && a.positional[0].kind == VK::kObject)
        *ns.object = *a.positional[0].object;
      for (const auto& [k, v] : a.kwargs) ns.object->Set(Text::Template(k), v);
      return ns;
    });
  }
  if (name == "range") {
    return Value::Func([](const Args& a) {
      int64_t start = 0, stop = 0, step = 1;
      if (a.positional.size() == 1) {
        stop = a.positional[0].i;
      } else if (a.positional.size() >= 2) {
        start = a.positional[0].i;
        stop = a.positional[1].i;
        if (a.positional.size() > 2) step = a.positional[2].i;
      }
      if (step == 0) throw Error("range: step cannot be zero");
      Array out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        out.push_back(Value::Int(i));
      return Value::List(std::move(out));
    });
  }
  if (name == "raise_exception") {
    return Value::Func([](const Args& a) -> Value {
      throw Error(a.positional.empty() ? "raise_exception" : a.positional[0].ToText().s);
    });
  }
  if (name == "strftime_now") {
    return Value::Func([](const Args& a) {
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[256];
      const std::string fmt = a.positional.empty() ? "" : a.positional[0].str.s;
      const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
      return Value::TemplateString(std::string(buf, n));
    });
  }
  return Value();
}

}  // namespace kvc::jinja
