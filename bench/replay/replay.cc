#include "bench/replay/replay.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/sim/simulator.h"
#include "kvc/common/json.h"
#include "kvc/http/client.h"

namespace kvc::replay {
namespace {

using SteadyClock = std::chrono::steady_clock;
using nlohmann::json;

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

int64_t Scaled(int64_t n, double scale) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::llround(static_cast<double>(n) * scale)));
}

// Token j of the block named `id`; blocks without a hash id get per-request ids.
uint32_t TokenOf(int64_t id, int64_t j, uint32_t vocab) {
  return static_cast<uint32_t>(Mix(static_cast<uint64_t>(id) * 1000003ULL + j) % vocab);
}

Status Validate(const ReplayOptions& o) {
  if (!(o.speedup > 0)) return absl::InvalidArgumentError("speedup must be > 0");
  if (!(o.length_scale > 0) || o.length_scale > 1) {
    return absl::InvalidArgumentError("length_scale must be in (0, 1]");
  }
  if (o.vocab_size < 2) return absl::InvalidArgumentError("vocab_size must be >= 2");
  if (o.max_in_flight < 1) return absl::InvalidArgumentError("max_in_flight must be >= 1");
  if (o.max_requests < 0 || o.max_seconds < 0) {
    return absl::InvalidArgumentError("max_requests and max_seconds must be >= 0");
  }
  return http::ParseUrl(o.url).status();
}

// Sends one request and fills `r` from its stream.
void RunOne(const trace::TraceRequest& t, const ReplayOptions& o, const http::Url& target,
            SteadyClock::time_point start, RequestRecord* r) {
  json body = {{"model", o.model},   {"max_tokens", r->max_tokens},
               {"ignore_eos", true}, {"temperature", 0},
               {"stream", true},     {"stream_options", {{"include_usage", true}}}};
  if (o.text_prompts) {
    body["prompt"] = SynthesizePromptText(t, o.length_scale);
  } else {
    body["prompt"] = SynthesizePromptTokens(t, o.length_scale, o.vocab_size);
  }
  http::RequestOptions post;
  post.headers.push_back("Accept: text/event-stream, application/json");
  post.idle_timeout = std::chrono::seconds(120);  // longest silence between bytes
  post.total_timeout = std::chrono::seconds(o.request_timeout_s);
  if (!o.api_key.empty()) post.headers.push_back("Authorization: Bearer " + o.api_key);
  const auto sent = SteadyClock::now();
  r->send_s = std::chrono::duration<double>(sent - start).count();
  r->send_unix_s =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto last = sent;
  std::string stream_error;
  int64_t chunks = 0;
  auto on_event = [&](const std::string& data) {
    if (data == "[DONE]") return true;
    json j = json::parse(data, nullptr, false);
    if (j.is_discarded()) return true;
    if (j.contains("error") && j["error"].is_object()) {  // the server ended the stream
      r->stream_error_code = j["error"].value("code", "unknown");
      stream_error = j["error"].value("message", "");
      return true;
    }
    if (j.contains("usage") && j["usage"].is_object()) {
      r->prompt_tokens = j["usage"].value("prompt_tokens", 0);
      r->completion_tokens = j["usage"].value("completion_tokens", 0);
      if (j["usage"].contains("prompt_tokens_details") &&
          j["usage"]["prompt_tokens_details"].is_object()) {
        r->cached_tokens = j["usage"]["prompt_tokens_details"].value("cached_tokens", 0);
      }
    }
    if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return true;
    const json& c = j["choices"][0];
    const bool has_text =
        (c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty()) ||
        (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content") &&
         c["delta"]["content"].is_string() && !c["delta"]["content"].get<std::string>().empty());
    if (!has_text) return true;
    const auto now = SteadyClock::now();
    if (chunks == 0) {
      r->ttft_s = std::chrono::duration<double>(now - sent).count();
    } else {
      r->gaps_s.push_back(std::chrono::duration<double>(now - last).count());
    }
    last = now;
    ++chunks;
    return true;
  };
  auto result = http::Fetch(target, "POST", "/v1/completions", kvc::DumpJson(body), post, on_event);
  r->e2e_s = std::chrono::duration<double>(SteadyClock::now() - sent).count();
  if (!result.ok()) {
    r->outcome = "error";
    r->error = std::string(result.status().message());
    return;
  }
  r->http_status = result->status;
  if (result->status == 429) {
    r->outcome = "rejected";
    r->error = result->body.substr(0, 300);
    return;
  }
  if (!r->stream_error_code.empty()) {
    r->outcome = "error";
    r->error = absl::StrCat("error event in the stream after ", chunks,
                            " chunks: ", r->stream_error_code, ": ", stream_error);
    return;
  }
  if (result->status == 200 && chunks == 0 && r->completion_tokens > 0) {
    // Tokens without visible text (e.g. one special token): the client saw its first
    // output only at the end of the stream, so that is its TTFT.
    r->ttft_s = r->e2e_s;
    chunks = 1;
  }
  if (result->status != 200 || chunks == 0) {
    r->outcome = "error";
    r->error = absl::StrCat("HTTP ", result->status, ": ", result->body.substr(0, 300));
    return;
  }
  r->outcome = "ok";
  if (r->completion_tokens == 0) r->completion_tokens = chunks;
  std::vector<float> gaps(r->gaps_s.begin(), r->gaps_s.end());
  r->tbt_s = sim::TbtFromGaps(std::move(gaps));
}

void DrawProgress(int64_t sent, int64_t total, int64_t done, int64_t in_flight) {
  const int width = 30;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  std::fprintf(stderr, "\r[%s%s] %lld/%lld done, %lld in flight  ",
               std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
               static_cast<long long>(done), static_cast<long long>(total),
               static_cast<long long>(in_flight));
  (void)sent;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

std::vector<uint32_t> SynthesizePromptTokens(const trace::TraceRequest& t, double scale,
                                             uint32_t vocab) {
  const int64_t block = Scaled(trace::kBlockTokens, scale);
  const int64_t length = Scaled(t.input_length, scale);
  std::vector<uint32_t> out;
  out.reserve(static_cast<size_t>(length));
  for (int64_t pos = 0; pos < length; ++pos) {
    const int64_t b = pos / block;
    // Beyond the listed hash ids the tokens are private to this request.
    const int64_t id = b < static_cast<int64_t>(t.hash_ids.size()) ? t.hash_ids[b]
                                                                   : -1 - (t.index * 1000003LL + b);
    out.push_back(TokenOf(id, pos % block, vocab));
  }
  return out;
}

std::string SynthesizePromptText(const trace::TraceRequest& t, double scale) {
  static constexpr const char* kWords[] = {"alpha", "bravo",  "cedar",  "delta",   "ember", "fjord",
                                           "grove", "harbor", "indigo", "juniper", "kelp",  "lumen",
                                           "maple", "nectar", "onyx",   "pebble"};
  std::string out;
  for (uint32_t id : SynthesizePromptTokens(t, scale, 1u << 16)) {
    absl::StrAppend(&out, out.empty() ? "" : " ", kWords[id % 16], id % 97);
  }
  return out;
}

StatusOr<std::vector<RequestRecord>> Replay(const std::vector<trace::TraceRequest>& requests,
                                            const ReplayOptions& o, double* wall_seconds) {
  KVC_RETURN_IF_ERROR(Validate(o));
  KVC_ASSIGN_OR_RETURN(http::Url target, http::ParseUrl(o.url));
  std::vector<const trace::TraceRequest*> due;
  const double t0 = requests.empty() ? 0 : requests.front().timestamp_ms;
  for (const auto& r : requests) {
    if (o.max_requests > 0 && static_cast<int64_t>(due.size()) >= o.max_requests) break;
    if (o.max_seconds > 0 && (r.timestamp_ms - t0) / 1000.0 / o.speedup > o.max_seconds) break;
    due.push_back(&r);
  }
  std::vector<RequestRecord> records(due.size());
  std::mutex mu;
  std::condition_variable cv;
  int64_t in_flight = 0, done = 0;
  const auto start = SteadyClock::now();
  const bool show = o.progress && isatty(STDERR_FILENO);
  for (size_t i = 0; i < due.size(); ++i) {
    const auto at =
        start + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(
                    (due[i]->timestamp_ms - t0) / 1000.0 / o.speedup));
    std::this_thread::sleep_until(at);
    RequestRecord& r = records[i];
    r.index = due[i]->index;
    r.input_tokens = Scaled(due[i]->input_length, o.length_scale);
    r.max_tokens = Scaled(due[i]->output_length, o.length_scale);
    std::unique_lock lock(mu);
    if (in_flight >= o.max_in_flight) {
      r.outcome = "error";
      r.error = "client in-flight cap reached (raise --max-in-flight)";
      r.send_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
      r.send_unix_s =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      ++done;
      continue;
    }
    ++in_flight;
    lock.unlock();
    std::thread([&, i] {
      RunOne(*due[i], o, target, start, &records[i]);
      std::lock_guard g(mu);
      --in_flight;
      ++done;
      cv.notify_all();
    }).detach();
    if (show && i % 16 == 0) {
      std::lock_guard g(mu);
      DrawProgress(static_cast<int64_t>(i + 1), static_cast<int64_t>(due.size()), done, in_flight);
    }
  }
  std::unique_lock lock(mu);
  // Every request has its own deadline, so this wait ends.
  while (in_flight > 0) {
    cv.wait_for(lock, std::chrono::milliseconds(500));
    if (show)
      DrawProgress(static_cast<int64_t>(due.size()), static_cast<int64_t>(due.size()), done,
                   in_flight);
  }
  if (show) std::fprintf(stderr, "\n");
  *wall_seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return records;
}

ReplaySummary Summarize(const std::vector<RequestRecord>& records, const ReplayOptions& o,
                        double wall_seconds) {
  ReplaySummary s;
  s.requests = static_cast<int64_t>(records.size());
  s.wall_seconds = wall_seconds;
  std::vector<double> ttft, tbt;
  int64_t effective = 0, prompt = 0, cached = 0;
  for (const auto& r : records) {
    if (r.outcome == "rejected") ++s.rejected;
    if (r.outcome == "error") ++s.errors;
    if (r.outcome != "ok") continue;
    ++s.completed;
    ttft.push_back(r.ttft_s);
    tbt.push_back(r.tbt_s);
    prompt += r.prompt_tokens > 0 ? r.prompt_tokens : r.input_tokens;
    cached += r.cached_tokens;
    if (r.ttft_s <= o.ttft_slo_s && r.tbt_s <= o.tbt_slo_s) ++effective;
  }
  auto mean = [](const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
  };
  s.avg_ttft_s = mean(ttft);
  s.p50_ttft_s = Percentile(ttft, 0.5);
  s.p90_ttft_s = Percentile(ttft, 0.9);
  s.p99_ttft_s = Percentile(ttft, 0.99);
  s.avg_tbt_s = mean(tbt);
  s.p99_tbt_s = Percentile(tbt, 0.99);
  s.effective_request_ratio = s.requests ? static_cast<double>(effective) / s.requests : 0;
  s.goodput_rps = wall_seconds > 0 ? effective / wall_seconds : 0;
  s.cached_token_ratio = prompt > 0 ? static_cast<double>(cached) / prompt : 0;
  return s;
}

}  // namespace kvc::replay
