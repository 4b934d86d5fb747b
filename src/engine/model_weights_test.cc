// Loading Hugging Face checkpoints: f32/bf16/f16, single file and sharded, and clear
// errors naming the tensor for truncated files, wrong dtypes, missing tensors and
// bad shapes.
#include "kvc/engine/model_weights.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kvc/engine/tiny_model.h"

namespace kvc::engine {
namespace {

ModelConfig Small() {
  ModelConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 4;
  return c;
}

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/loader_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
    weights_ = RandomModelWeights(Small(), 3);
    std::ofstream(dir_ + "/config.json") << ModelConfigToJson(Small());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Status Write(DType dtype) {
    return WriteSafetensors(dir_ + "/model.safetensors", WeightsToTensors(*weights_, dtype));
  }
  std::string LoadError() {
    auto w = LoadModelWeights(dir_);
    EXPECT_FALSE(w.ok());
    return w.ok() ? "" : std::string(w.status().message());
  }

  std::string dir_;
  std::unique_ptr<ModelWeights> weights_;
};

// Each on-disk dtype loads back to the written values (exactly for f32, within the
// format's precision for bf16/f16).
TEST_F(LoaderTest, LoadsF32Bf16F16) {
  for (auto [dtype, tol] :
       {std::pair{DType::kF32, 0.0}, {DType::kBF16, 1e-2}, {DType::kF16, 1e-3}}) {
    ASSERT_TRUE(Write(dtype).ok());
    auto w = LoadModelWeights(dir_);
    ASSERT_TRUE(w.ok()) << w.status();
    const auto& a = (*w)->layers[1].wq;
    const auto& b = weights_->layers[1].wq;
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol * (1 + std::abs(b[i])));
    EXPECT_EQ((*w)->embed.size(), 40u * 16u);
  }
}

// Sharded checkpoints with an index load like a single file.
TEST_F(LoaderTest, LoadsShardedCheckpoint) {
  ASSERT_TRUE(WriteShardedSafetensors(dir_, WeightsToTensors(*weights_, DType::kF32), 4096).ok());
  int shards = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    shards += e.path().filename().string().rfind("model-0", 0) == 0;
  }
  EXPECT_GT(shards, 1);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/model.safetensors"));
  auto w = LoadModelWeights(dir_);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->lm_head, weights_->lm_head);
  EXPECT_EQ((*w)->layers[0].w_down, weights_->layers[0].w_down);
}

// A truncated file is refused, naming the file and the tensor whose data is cut.
TEST_F(LoaderTest, TruncatedFileIsRejected) {
  ASSERT_TRUE(Write(DType::kF32).ok());
  const auto path = dir_ + "/model.safetensors";
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  const auto err = LoadError();
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  EXPECT_NE(err.find("lm_head.weight"), std::string::npos) << err;  // the last tensor
  std::filesystem::resize_file(path, 5);
  EXPECT_NE(LoadError().find("truncated"), std::string::npos);
}

// A dtype the loader does not handle is named with its tensor.
TEST_F(LoaderTest, WrongDtypeIsRejected) {
  auto tensors = WeightsToTensors(*weights_, DType::kF32);
  ASSERT_TRUE(WriteSafetensors(dir_ + "/model.safetensors", tensors).ok());
  // Rewrite the header's first F32 as I32 (same width, so offsets stay valid).
  std::fstream f(dir_ + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  const size_t at = bytes.find("\"F32\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "\"I32\"");
  f.seekp(0);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  const auto err = LoadError();
  EXPECT_NE(err.find("I32"), std::string::npos) << err;
  EXPECT_NE(err.find("tensor "), std::string::npos) << err;
}

// A missing tensor is named.
TEST_F(LoaderTest, MissingTensorIsRejected) {
  auto tensors = WeightsToTensors(*weights_, DType::kF32);
  tensors.erase(
      std::remove_if(tensors.begin(), tensors.end(),
                     [](const auto& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; }),
      tensors.end());
  ASSERT_TRUE(WriteSafetensors(dir_ + "/model.safetensors", tensors).ok());
  EXPECT_NE(LoadError().find("missing tensor model.layers.1.mlp.up_proj.weight"),
            std::string::npos);
}

// A tensor of the wrong shape is named with both shapes.
TEST_F(LoaderTest, BadShapeIsRejected) {
  auto tensors = WeightsToTensors(*weights_, DType::kF32);
  for (auto& t : tensors) {
    if (t.name == "model.layers.0.self_attn.k_proj.weight") t.shape = {16, 8};  // transposed
  }
  ASSERT_TRUE(WriteSafetensors(dir_ + "/model.safetensors", tensors).ok());
  const auto err = LoadError();
  EXPECT_NE(err.find("model.layers.0.self_attn.k_proj.weight has shape [16, 8], expected [8, 16]"),
            std::string::npos)
      << err;
}

// Garbage header and bad config.json are reported, not crashed on.
TEST_F(LoaderTest, CorruptHeaderAndConfigAreRejected) {
  std::ofstream(dir_ + "/model.safetensors")
      << std::string("\x10\0\0\0\0\0\0\0{not json!!!!!!}", 24);
  EXPECT_NE(LoadError().find("header"), std::string::npos);
  std::ofstream(dir_ + "/config.json") << R"({"hidden_size": 16})";
  EXPECT_NE(LoadError().find("vocab_size"), std::string::npos);
  std::ofstream(dir_ + "/config.json")
      << R"({"vocab_size": 4, "hidden_size": 16, "intermediate_size": 8,
      "num_hidden_layers": 1, "num_attention_heads": 3})";
  EXPECT_NE(LoadError().find("head_dim"), std::string::npos);
}

// A shape whose element or byte count overflows 64 bits is refused, not wrapped
// into a match with an empty data span (found by tests/fuzz: signed overflow).
TEST_F(LoaderTest, OverflowingShapeIsRejected) {
  for (const std::string shape : {"[4294967296, 4294967296, 1]", "[4611686018427387904]"}) {
    const std::string header =
        R"({"w": {"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": [0, 0]}})";
    const uint64_t n = header.size();
    std::ofstream(dir_ + "/one.safetensors")
        << std::string(reinterpret_cast<const char*>(&n), 8) << header;
    auto model = SafetensorsModel::OpenFile(dir_ + "/one.safetensors");
    ASSERT_FALSE(model.ok()) << shape;
    EXPECT_NE(std::string(model.status().message()).find("overflows"), std::string::npos)
        << model.status();
  }
}

// init's files are a loadable checkpoint; the same seed writes identical bytes.
TEST_F(LoaderTest, TinyModelIsDeterministicAndLoadable) {
  ASSERT_TRUE(WriteTinyModel(dir_ + "/a", 5).ok());
  ASSERT_TRUE(WriteTinyModel(dir_ + "/b", 5).ok());
  ASSERT_TRUE(WriteTinyModel(dir_ + "/c", 6).ok());
  auto read = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  EXPECT_EQ(read(dir_ + "/a/model.safetensors"), read(dir_ + "/b/model.safetensors"));
  EXPECT_NE(read(dir_ + "/a/model.safetensors"), read(dir_ + "/c/model.safetensors"));
  auto w = LoadModelWeights(dir_ + "/a");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->config.num_layers, 4);
  EXPECT_EQ(ServedModelId(dir_ + "/a", (*w)->config), "kvc-tiny");
}

// f16/bf16 conversions round-trip representable values and round to nearest.
TEST(DTypeTest, HalfConversions) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(F16ToFloat(FloatToF16(f)), f) << f;
  }
  EXPECT_EQ(BF16ToFloat(FloatToBF16(1.0f + 1.0f / 256)), 1.0f);  // ties to even
  EXPECT_EQ(BF16ToFloat(FloatToBF16(-3.0f)), -3.0f);
  EXPECT_TRUE(std::isinf(F16ToFloat(FloatToF16(1e6f))));
}

}  // namespace
}  // namespace kvc::engine
