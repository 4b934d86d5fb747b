// A compact Jinja interpreter for the subset Hugging Face chat templates use
// (tokenizer_config.json "chat_template"), rendered as transformers / @huggingface/jinja
// do: trim_blocks and lstrip_blocks on, one trailing newline of the source dropped.
//
// Statements: if/elif/else, for (with `loop`, tuple targets, `if` filter, else),
// set (name, ns.attr, block), macro, call, break/continue, filter blocks.
// Expressions: literals, lists, dicts, tuples, attribute/subscript/slice, calls with
// keyword arguments, filters, `is` tests, arithmetic, comparisons, `in`, `~`,
// and/or/not, conditional expressions. Globals: namespace, range, raise_exception,
// strftime_now. No network, no file access, no imports.
//
// Provenance: every byte of the output says whether it came from the template (its
// text and string literals, and the `trusted` variables) or from the render data
// (messages, tools, ...). A tokenizer turns special-token spellings into control
// tokens only in template bytes, so message content can never inject a turn.
//
// A parsed Template is immutable and may be rendered from many threads at once.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "kvc/common/status.h"

namespace kvc::jinja {

struct Program;  // the parsed template (internal)

// Rendered text plus, for each byte, whether it came from the render data.
struct Rendered {
  std::string text;
  std::string from_data;  // same length as text; '\1' = byte from `data`, '\0' = template
};

class Template {
 public:
  // Parses `source`; a syntax error is InvalidArgument naming the line.
  [[nodiscard]] static StatusOr<Template> Parse(std::string_view source);

  // Renders with the top-level variables of `data` (untrusted: messages, tools) and of
  // `trusted` (template-side values: bos_token, eos_token, add_generation_prompt); a
  // name in both takes `trusted`'s value. Objects keep their key order. Errors
  // (raise_exception, a type error) are InvalidArgument with the message.
  [[nodiscard]] StatusOr<Rendered> Render(const nlohmann::ordered_json& data,
                                          const nlohmann::ordered_json& trusted) const;

 private:
  explicit Template(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

}  // namespace kvc::jinja
