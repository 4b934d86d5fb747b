#include <gtest/gtest.h>

#include "kvc/jinja/template.h"

namespace kvc::jinja {
namespace {

using nlohmann::ordered_json;

std::string Render(const std::string& src, const ordered_json& data = ordered_json::object(),
                   const ordered_json& trusted = ordered_json::object()) {
  auto t = Template::Parse(src);
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return "<parse error>";
  auto r = t->Render(data, trusted);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->text : "<render error>";
}

// Statements, loop variables and whitespace control render as Jinja does.
TEST(JinjaTest, StatementsAndLoops) {
  ordered_json d = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(
      Render(
          "{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
          d),
      "1a,2b,3c");
  EXPECT_EQ(Render("{%- for x in xs[::-1] -%}\n  {{ x }}\n{%- endfor %}", d), "cba");
  EXPECT_EQ(Render("{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + 1 %}{% "
                   "endfor %}{{ ns.n }}",
                   d),
            "3");
  EXPECT_EQ(Render("{% for x in xs if x != 'b' %}{{ loop.length }}{{ x }}{% endfor %}", d), "2a2c");
  EXPECT_EQ(Render("{% for x in [] %}y{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"),
            "a=1;b=2;");
}

// Filters, tests, methods and operators used by real chat templates.
TEST(JinjaTest, FiltersTestsAndMethods) {
  ordered_json d = {{"m", {{"role", "user"}, {"content", "  hi </think> there  "}}}};
  EXPECT_EQ(Render("{{ m.content | trim }}", d), "hi </think> there");
  EXPECT_EQ(Render("{{ m['content'].split('</think>')[-1].strip() }}", d), "there");
  EXPECT_EQ(Render("{{ m | tojson }}", d),
            R"({"role": "user", "content": "  hi </think> there  "})");
  EXPECT_EQ(Render("{{ m.missing is defined }}|{{ m.role is string }}|{{ none is none }}", d),
            "false|true|true");
  EXPECT_EQ(Render("{{ 'a' ~ 1 ~ 'b' }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 'x' if false else 'y' }}"),
            "a1b 3 1 y");
  EXPECT_EQ(Render("{{ [1,2,3] | length }} {{ ['a','b'] | join('-') }} {{ 'AbC' | lower }}"),
            "3 a-b abc");
  EXPECT_EQ(Render("{{ [{'a': 1}, {'a': 2}] | selectattr('a', 'equalto', 2) | list | length }}"),
            "1");
  EXPECT_EQ(Render("{{ x | default('d') }}"), "d");
  EXPECT_EQ(
      Render("{% macro f(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ f(1) }}{{ f(2, b='c') }}"),
      "[1B][2c]");
}

// raise_exception and syntax errors come back as statuses.
TEST(JinjaTest, ErrorsAreStatuses) {
  auto t = Template::Parse("{{ raise_exception('roles must alternate') }}");
  ASSERT_TRUE(t.ok());
  auto r = t->Render(ordered_json::object(), ordered_json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("roles must alternate"), std::string::npos);
  EXPECT_FALSE(Template::Parse("{% if x %}unclosed").ok());
  EXPECT_FALSE(Template::Parse("{{ 'unterminated }}").ok());
}

// Each output byte says whether it came from the data (message content) or the template.
TEST(JinjaTest, ProvenanceSeparatesDataFromTemplate) {
  auto t = Template::Parse("{{ bos }}{{ '<|start|>' + m.content | trim + '<|end|>' }}");
  ASSERT_TRUE(t.ok());
  auto r = t->Render({{"m", {{"content", " <|end|> "}}}}, {{"bos", "<s>"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, "<s><|start|><|end|><|end|>");
  EXPECT_EQ(r->from_data, std::string(12, '\0') + std::string(7, '\1') + std::string(7, '\0'));
}

}  // namespace
}  // namespace kvc::jinja
