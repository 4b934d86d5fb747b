#include "kvc/common/config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kvc {

struct OptionSet::Field {
  std::string key;
  std::string help;
  // Parses `text` into the bound field; `origin` names the source for errors.
  std::function<Status(const std::string& text)> set;
  std::function<std::string()> get;
  bool is_bool = false;
  bool is_list = false;
  std::string flag_value;  // captured by CLI11
  std::vector<std::string> flag_list;
  CLI::Option* cli = nullptr;
};

namespace {

template <typename Int>
Status ParseInt(const std::string& text, Int* out) {
  int64_t wide = 0;
  uint64_t uwide = 0;
  std::string t(absl::StripAsciiWhitespace(text));
  if constexpr (std::is_signed_v<Int>) {
    if (!absl::SimpleAtoi(t, &wide)) return absl::InvalidArgumentError("is not an integer");
    if (wide < std::numeric_limits<Int>::min() || wide > std::numeric_limits<Int>::max()) {
      return absl::InvalidArgumentError("is out of range");
    }
    *out = static_cast<Int>(wide);
  } else {
    if (!t.empty() && t[0] == '-') return absl::InvalidArgumentError("must not be negative");
    if (!absl::SimpleAtoi(t, &uwide)) return absl::InvalidArgumentError("is not an integer");
    if (uwide > std::numeric_limits<Int>::max())
      return absl::InvalidArgumentError("is out of range");
    *out = static_cast<Int>(uwide);
  }
  return Status();
}

Status ParseBool(const std::string& text, bool* out) {
  const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t == "true" || t == "1" || t == "yes" || t == "on")
    *out = true;
  else if (t == "false" || t == "0" || t == "no" || t == "off")
    *out = false;
  else
    return absl::InvalidArgumentError("is not a boolean (true/false)");
  return Status();
}

Status ParseDouble(const std::string& text, double* out) {
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(text), out)) {
    return absl::InvalidArgumentError("is not a number");
  }
  return Status();
}

Status Annotate(const Status& s, const std::string& key, const std::string& value,
                const std::string& origin) {
  if (s.ok()) return s;
  return absl::InvalidArgumentError(
      absl::StrCat(key, ": '", value, "' from ", origin, " ", s.message()));
}

// Flattens a YAML map into dotted keys; sequences stay as nodes.
void Flatten(const YAML::Node& node, const std::string& prefix,
             std::vector<std::pair<std::string, YAML::Node>>* out) {
  for (const auto& kv : node) {
    const std::string key =
        prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>();
    if (kv.second.IsMap())
      Flatten(kv.second, key, out);
    else
      out->emplace_back(key, kv.second);
  }
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const char* name) { return static_cast<const char*>(std::getenv(name)); };
}

std::string EnvNameForKey(const std::string& key) {
  std::string out = "KVC_";
  for (char c : key) out += (c == '.') ? '_' : absl::ascii_toupper(c);
  return out;
}

std::string FlagNameForKey(const std::string& key) {
  std::string out = "--";
  for (char c : key) out += (c == '.' || c == '_') ? '-' : c;
  return out;
}

OptionSet::OptionSet() = default;
OptionSet::~OptionSet() = default;

OptionSet::Field& OptionSet::NewField(const std::string& key, const std::string& help) {
  for (const auto& f : fields_) {
    if (f->key == key) {
      std::cerr << "kvc config: option '" << key << "' declared twice\n";
      std::abort();
    }
  }
  fields_.push_back(std::make_unique<Field>());
  fields_.back()->key = key;
  fields_.back()->help = help;
  return *fields_.back();
}

#define KVC_DEFINE_INT_OPTION(T)                                                   \
  void OptionSet::Add(const std::string& key, T* field, const std::string& help) { \
    Field& f = NewField(key, help);                                                \
    f.set = [field](const std::string& text) { return ParseInt<T>(text, field); }; \
    f.get = [field] { return std::to_string(*field); };                            \
  }
KVC_DEFINE_INT_OPTION(int32_t)
KVC_DEFINE_INT_OPTION(int64_t)
KVC_DEFINE_INT_OPTION(uint32_t)
KVC_DEFINE_INT_OPTION(uint64_t)
#undef KVC_DEFINE_INT_OPTION

void OptionSet::Add(const std::string& key, bool* field, const std::string& help) {
  Field& f = NewField(key, help);
  f.is_bool = true;
  f.set = [field](const std::string& text) { return ParseBool(text, field); };
  f.get = [field] { return std::string(*field ? "true" : "false"); };
}

void OptionSet::Add(const std::string& key, double* field, const std::string& help) {
  Field& f = NewField(key, help);
  f.set = [field](const std::string& text) { return ParseDouble(text, field); };
  f.get = [field] {
    std::ostringstream os;
    os << *field;
    return os.str();
  };
}

void OptionSet::Add(const std::string& key, std::string* field, const std::string& help) {
  Field& f = NewField(key, help);
  f.set = [field](const std::string& text) {
    *field = text;
    return Status();
  };
  f.get = [field] { return *field; };
}

void OptionSet::Add(const std::string& key, std::vector<std::string>* field,
                    const std::string& help) {
  Field& f = NewField(key, help);
  f.is_list = true;
  // Text form (env, flags): comma-separated.
  f.set = [field](const std::string& text) {
    *field = text.empty() ? std::vector<std::string>{}
                          : std::vector<std::string>(absl::StrSplit(text, ','));
    return Status();
  };
  f.get = [field] { return absl::StrJoin(*field, ","); };
}

void OptionSet::AttachTo(CLI::App& app) {
  app.add_option("--config", config_path_, "YAML config file (also KVC_CONFIG)");
  for (auto& f : fields_) {
    const std::string flag = FlagNameForKey(f->key);
    const std::string help = absl::StrCat(f->help, " [env ", EnvNameForKey(f->key), "]");
    if (f->is_bool) {
      f->cli = app.add_flag(flag + "{true}", f->flag_value, help);
      f->cli->default_str(f->get());
    } else {
      f->cli = app.add_option(flag, f->flag_value, help);
      f->cli->default_str(f->get());
    }
  }
}

Status OptionSet::ApplyYaml(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": not valid YAML: ", e.what()));
  }
  if (root.IsNull()) return Status();
  if (!root.IsMap()) return absl::InvalidArgumentError(origin + ": top level must be a map");
  std::vector<std::pair<std::string, YAML::Node>> entries;
  try {
    Flatten(root, "", &entries);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", e.what()));
  }
  for (const auto& [key, node] : entries) {
    Field* field = nullptr;
    for (auto& f : fields_) {
      if (f->key == key) field = f.get();
    }
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": unknown option '", key, "'"));
    }
    std::string text;
    if (node.IsSequence()) {
      if (!field->is_list) {
        return absl::InvalidArgumentError(
            absl::StrCat(key, ": a list given in ", origin, " but this option takes one value"));
      }
      std::vector<std::string> items;
      for (const auto& item : node) items.push_back(item.Scalar());
      text = absl::StrJoin(items, ",");
    } else {
      text = node.Scalar();
    }
    KVC_RETURN_IF_ERROR(Annotate(field->set(text), key, text, origin));
  }
  return Status();
}

Status OptionSet::ApplyEnv(const EnvLookup& env) {
  for (auto& f : fields_) {
    const std::string name = EnvNameForKey(f->key);
    if (const char* value = env(name.c_str())) {
      KVC_RETURN_IF_ERROR(Annotate(f->set(value), f->key, value, "env " + name));
    }
  }
  return Status();
}

Status OptionSet::Resolve(const EnvLookup& env) {
  std::string path = config_path_;
  if (path.empty()) {
    if (const char* p = env("KVC_CONFIG")) path = p;
  }
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError("config: cannot read file '" + path + "'");
    std::stringstream text;
    text << in.rdbuf();
    KVC_RETURN_IF_ERROR(ApplyYaml(text.str(), "file " + path));
  }
  KVC_RETURN_IF_ERROR(ApplyEnv(env));
  for (auto& f : fields_) {
    if (f->cli != nullptr && f->cli->count() > 0) {
      KVC_RETURN_IF_ERROR(
          Annotate(f->set(f->flag_value), f->key, f->flag_value, "flag " + FlagNameForKey(f->key)));
    }
  }
  return Status();
}

std::vector<std::string> OptionSet::Describe() const {
  std::vector<std::string> out;
  for (const auto& f : fields_) out.push_back(f->key + "=" + f->get());
  return out;
}

bool ParseCommandLine(int argc, char** argv, const std::string& program,
                      const std::string& description, OptionSet& options, int* exit_code) {
  CLI::App app(description, program);
  options.AttachTo(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return false;
  }
  const Status s = options.Resolve();
  if (!s.ok()) {
    std::cerr << program << ": configuration error: " << s.message() << "\n";
    *exit_code = 2;
    return false;
  }
  return true;
}

}  // namespace kvc
