// config.json parsing: Hugging Face defaults, Llama-3 RoPE scaling, Qwen2 bias,
// EOS lists, and errors naming the field.
#include "kvc/engine/model_config.h"

#include <gtest/gtest.h>

#include "kvc/engine/tiny_model.h"

namespace kvc::engine {
namespace {

// A Llama-3.1-style config: GQA, llama3 rope scaling, EOS list, head_dim derived.
TEST(ModelConfigTest, ParsesLlama31Config) {
  auto c = ParseModelConfig(R"({"model_type": "llama", "vocab_size": 128256, "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "tie_word_embeddings": false})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_TRUE(c->rope_scaling.enabled);
  EXPECT_EQ(c->rope_scaling.original_max_position, 8192);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->KvElementsPerTokenPerLayer(), 2 * 8 * 128);
}

// Qwen2 defaults to q/k/v bias; a missing num_key_value_heads means no GQA; null BOS is fine.
TEST(ModelConfigTest, Qwen2DefaultsAndNulls) {
  auto c = ParseModelConfig(R"({"model_type": "qwen2", "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "bos_token_id": null, "eos_token_id": 5, "rope_scaling": null})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->attention_bias);
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_EQ(c->bos_token_id, -1);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{5});
}

// Errors name the field: missing, wrong type, inconsistent heads, unsupported scaling.
TEST(ModelConfigTest, ErrorsNameTheField) {
  auto msg = [](const std::string& json) {
    auto c = ParseModelConfig(json);
    EXPECT_FALSE(c.ok());
    return std::string(c.status().message());
  };
  const std::string base = R"("vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
      "num_hidden_layers": 1)";
  EXPECT_NE(msg("{" + base + "}").find("num_attention_heads"), std::string::npos);
  EXPECT_NE(msg("{" + base + R"(, "num_attention_heads": "8"})").find("num_attention_heads"),
            std::string::npos);
  EXPECT_NE(msg("{" + base + R"(, "num_attention_heads": 8, "num_key_value_heads": 3})")
                .find("num_key_value_heads"),
            std::string::npos);
  EXPECT_NE(msg("{" + base + R"(, "num_attention_heads": 8, "rope_scaling": {"type": "yarn"}})")
                .find("yarn"),
            std::string::npos);
  EXPECT_NE(msg("[1, 2]").find("not a JSON object"), std::string::npos);
}

// ModelConfigToJson round-trips through the parser.
TEST(ModelConfigTest, JsonRoundTrip) {
  ModelConfig t = TinyModelConfig();
  t.rope_scaling = RopeScaling{true, 4.0, 1.0, 2.0, 1024};
  t.tie_word_embeddings = true;
  auto c = ParseModelConfig(ModelConfigToJson(t));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name_or_path, "kvc-tiny");
  EXPECT_EQ(c->num_kv_heads, t.num_kv_heads);
  EXPECT_EQ(c->eos_token_ids, t.eos_token_ids);
  EXPECT_EQ(c->rope_scaling.original_max_position, 1024);
  EXPECT_TRUE(c->tie_word_embeddings);
}

}  // namespace
}  // namespace kvc::engine
