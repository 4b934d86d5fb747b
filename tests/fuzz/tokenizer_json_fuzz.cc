// Fuzz target: tokenizer.json loading (src/engine/tokenizer/: the byte-level BPE
// builder, pre-tokenizer, added tokens). Input: a tokenizer.json document, then
// optionally a NUL byte and sample text (JSON text cannot hold a raw NUL). The
// text, or a default when absent, is encoded with and without special-token
// parsing and decoded again; the ids after the text are fed to Decode too.
// Checked: no crash, no exception, no sanitizer report; every id Encode returns
// is inside the vocabulary and TokenBytes/Decode accept them.
#include <cstring>
#include <string>
#include <vector>

#include "kvc/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string json_text = input.substr(0, nul);
  const std::string text = nul == std::string::npos ? std::string("Hello, world! 123 <|eot_id|>")
                                                    : input.substr(nul + 1);
  auto tok = kvc::tokenizer::ParseTokenizerJson(json_text);
  if (!tok.ok()) return 0;
  const auto& t = **tok;
  KVC_FUZZ_CHECK(t.vocab_size() >= 0, "negative vocabulary size");
  for (bool special : {true, false}) {
    const std::vector<int32_t> ids = t.Encode(text.substr(0, 512), special);
    for (size_t i = 0; i < ids.size(); ++i) {
      KVC_FUZZ_CHECK(ids[i] >= 0 && ids[i] < t.vocab_size(),
                     "id " + std::to_string(ids[i]) + " outside the vocabulary");
      (void)t.TokenBytes(ids[i], i == 0);
      (void)t.IsSpecial(ids[i]);
    }
    (void)t.Decode(ids, /*skip_special=*/special);
  }
  // Arbitrary ids (in range or not) decode without failing.
  std::vector<int32_t> raw(text.size() / 4);
  if (!raw.empty()) std::memcpy(raw.data(), text.data(), raw.size() * 4);
  (void)t.Decode(raw, false);
  (void)t.Decode(raw, true);
  (void)t.TokenId(text.substr(0, 64));
  return 0;
}
