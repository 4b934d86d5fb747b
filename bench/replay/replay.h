// Open-loop replay of a Mooncake-format trace against any OpenAI-compatible
// server: each request is sent at its timestamp (divided by `speedup`) whether
// or not earlier ones finished; TTFT, every inter-token gap, rejections (429),
// errors and cached prompt tokens are recorded from the stream.
//
// Prompts are synthesized from hash_ids so that equal ids give equal token
// blocks: token-id prompts through /v1/completions (exact prefix sharing), or
// text prompts for servers that do not take token ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/trace/trace.h"
#include "kvc/common/status.h"

namespace kvc::replay {

struct ReplayOptions {
  std::string url = "http://127.0.0.1:8000";  // base URL of the server
  std::string model = "kvc-tiny";             // model id sent with each request
  std::string api_key;                        // sent as "Authorization: Bearer" when set
  double speedup = 1.0;                       // trace time is divided by this
  int64_t max_requests = 0;                   // 0 = the whole trace
  double max_seconds = 0;     // 0 = no limit; else stop sending after this many seconds
  double length_scale = 1.0;  // scales input/output lengths and the 512-token block
  uint32_t vocab_size = 256;  // synthesized token ids are < this
  bool text_prompts = false;  // send text through /v1/completions instead of ids
  double ttft_slo_s = 30.0;   // objectives for the effective-request ratio
  double tbt_slo_s = 0.1;
  int max_in_flight = 2048;          // client-side cap; requests beyond it count as errors
  uint32_t request_timeout_s = 600;  // whole-request deadline
  bool progress = true;              // progress bar on stderr
};

// What happened to one request.
struct RequestRecord {
  int64_t index = 0;
  double send_s = 0;         // when it was sent, from the start of the replay
  double send_unix_s = 0;    // when it was sent, wall clock (seconds since the epoch)
  int64_t input_tokens = 0;  // synthesized prompt length
  int64_t max_tokens = 0;    // requested output length
  std::string outcome;       // "ok", "rejected", "error"
  int http_status = 0;
  std::string error;  // for "error" and "rejected"
  // The `error.code` of an error event that ended a 200 stream (e.g. "node_failed");
  // such a request is an "error" even when tokens arrived before it.
  std::string stream_error_code;
  double ttft_s = -1;  // -1 when no token arrived
  double tbt_s = 0;    // mean of the longest 10% inter-token gaps
  double e2e_s = -1;
  int64_t completion_tokens = 0;
  int64_t prompt_tokens = 0;  // as reported by the server's usage (0 if none)
  int64_t cached_tokens = 0;  // prompt_tokens_details.cached_tokens
  std::vector<double> gaps_s;
};

struct ReplaySummary {
  int64_t requests = 0, completed = 0, rejected = 0, errors = 0;
  double avg_ttft_s = 0, p50_ttft_s = 0, p90_ttft_s = 0, p99_ttft_s = 0;
  double avg_tbt_s = 0, p99_tbt_s = 0;
  double effective_request_ratio = 0;  // completed with TTFT and TBT within objectives / requests
  double goodput_rps = 0;              // effective requests per wall second
  double cached_token_ratio = 0;       // cached prompt tokens / prompt tokens (completed)
  double wall_seconds = 0;
};

// Token ids of the synthesized prompt of `request` (deterministic in its hash_ids).
std::vector<uint32_t> SynthesizePromptTokens(const trace::TraceRequest& request,
                                             double length_scale, uint32_t vocab_size);
// Text form of the same prompt: one word per token, words derived from the ids.
std::string SynthesizePromptText(const trace::TraceRequest& request, double length_scale);

// Replays `requests`; returns one record per request that was due (in trace order).
// InvalidArgument for bad options (names the field).
[[nodiscard]] StatusOr<std::vector<RequestRecord>> Replay(
    const std::vector<trace::TraceRequest>& requests, const ReplayOptions& options,
    double* wall_seconds);

ReplaySummary Summarize(const std::vector<RequestRecord>& records, const ReplayOptions& options,
                        double wall_seconds);

}  // namespace kvc::replay
