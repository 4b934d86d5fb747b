// Fuzz target: the Mooncake trace loader (bench/trace/trace.cc). The input is a
// whole JSONL trace. Checked: no crash, no exception, no sanitizer report; a
// refused trace is INVALID_ARGUMENT; an accepted one obeys the documented rules
// (positive lengths, at most ceil(input_length / 512) hash ids, timestamps that
// never decrease, consecutive indices), and PrefixTokens stays within the prompt.
#include <sstream>
#include <string>

#include "bench/trace/trace.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  auto trace = kvc::trace::ParseTrace(in, "fuzz.jsonl");
  if (!trace.ok()) {
    KVC_FUZZ_CHECK(trace.status().code() == absl::StatusCode::kInvalidArgument,
                   trace.status().ToString());
    return 0;
  }
  KVC_FUZZ_CHECK(!trace->empty(), "an empty trace was accepted");
  double last = -1e300;
  for (size_t i = 0; i < trace->size(); ++i) {
    const auto& r = (*trace)[i];
    KVC_FUZZ_CHECK(r.index == static_cast<int64_t>(i), "index");
    KVC_FUZZ_CHECK(r.input_length > 0 && r.output_length > 0, "non-positive length");
    KVC_FUZZ_CHECK(r.timestamp_ms >= last, "timestamps decrease");
    last = r.timestamp_ms;
    const int64_t blocks = r.input_length / kvc::trace::kBlockTokens +
                           (r.input_length % kvc::trace::kBlockTokens != 0 ? 1 : 0);
    KVC_FUZZ_CHECK(static_cast<int64_t>(r.hash_ids.size()) <= blocks, "too many hash ids");
    for (int64_t m = 0; m <= static_cast<int64_t>(r.hash_ids.size()); ++m) {
      const int64_t p = kvc::trace::PrefixTokens(r, m);
      KVC_FUZZ_CHECK(p >= 0 && p <= r.input_length, "prefix tokens outside the prompt");
    }
  }
  return 0;
}
