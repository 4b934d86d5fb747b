// Request traces in the Mooncake JSONL format (docs/trace-format.md): one JSON object
// per line with `timestamp` (ms), `input_length`, `output_length`, `hash_ids` (ids of
// the 512-token prefix blocks; equal ids mean a shareable prefix) and an optional
// `session_id`. `input_tokens` / `output_tokens` are accepted as aliases.
//
// Every line is validated; an error names the origin and the 1-based line number.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::trace {

// Tokens covered by one hash id.
inline constexpr int64_t kBlockTokens = 512;

struct TraceRequest {
  int64_t index = 0;              // position in the trace (0-based, blank lines skipped)
  double timestamp_ms = 0;        // arrival time, ms from the start of the trace
  int64_t input_length = 0;       // prompt tokens, > 0
  int64_t output_length = 0;      // generated tokens, > 0
  std::vector<int64_t> hash_ids;  // prefix block ids, at most ceil(input_length / 512)
  std::string session_id;         // "" when absent
};

// Parses one line. InvalidArgument "<origin>:<line>: <what is wrong>" on a bad line.
[[nodiscard]] StatusOr<TraceRequest> ParseTraceLine(std::string_view line,
                                                    const std::string& origin, int64_t line_number);

// Parses a whole stream; blank lines are skipped; timestamps must not decrease.
// An empty trace is an error (nothing to simulate or replay).
[[nodiscard]] StatusOr<std::vector<TraceRequest>> ParseTrace(std::istream& in,
                                                             const std::string& origin);

// Opens and parses `path`. NotFound when the file cannot be opened.
[[nodiscard]] StatusOr<std::vector<TraceRequest>> LoadTrace(const std::string& path);

// Prefix tokens of `request` covered by its first `matched_blocks` hash ids
// (the last block may be partial).
int64_t PrefixTokens(const TraceRequest& request, int64_t matched_blocks);

}  // namespace kvc::trace
