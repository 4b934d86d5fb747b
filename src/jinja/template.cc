#include "kvc/jinja/template.h"

#include "src/jinja/internal/interpreter.h"

namespace kvc::jinja {

struct Program {
  Body body;
};

StatusOr<Template> Template::Parse(std::string_view source) {
  try {
    auto program = std::make_shared<Program>();
    program->body = ParseTokens(Lex(source));
    return Template(std::move(program));
  } catch (const Error& e) {
    return absl::InvalidArgumentError(e.what());
  }
}

StatusOr<Rendered> Template::Render(const nlohmann::ordered_json& data,
                                    const nlohmann::ordered_json& trusted) const {
  try {
    Scope root;
    if (data.is_object()) {
      for (const auto& [k, v] : data.items()) root.Set(k, Value::FromJson(v, /*from_data=*/true));
    }
    if (trusted.is_object()) {
      for (const auto& [k, v] : trusted.items())
        root.Set(k, Value::FromJson(v, /*from_data=*/false));
    }
    Interpreter interpreter(&root);
    Text out;
    interpreter.Exec(program_->body, root, out);
    return Rendered{std::move(out.s), std::move(out.data)};
  } catch (const Error& e) {
    return absl::InvalidArgumentError(std::string("chat template: ") + e.what());
  } catch (const std::exception& e) {  // std::stoll and friends on odd input
    return absl::InvalidArgumentError(std::string("chat template: ") + e.what());
  }
}

}  // namespace kvc::jinja
