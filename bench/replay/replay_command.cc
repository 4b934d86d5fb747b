#include "bench/replay/replay_command.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "bench/replay/replay.h"
#include "bench/sim/report.h"
#include "bench/trace/trace.h"
#include "kvc/common/json.h"

namespace kvc::bench {
namespace {

struct ReplayArgs {
  std::string trace;
  std::string out;
  replay::ReplayOptions options;
};

nlohmann::json SummaryJson(const replay::ReplaySummary& s) {
  return {{"requests", s.requests},
          {"completed", s.completed},
          {"rejected", s.rejected},
          {"errors", s.errors},
          {"avg_ttft_s", s.avg_ttft_s},
          {"p50_ttft_s", s.p50_ttft_s},
          {"p90_ttft_s", s.p90_ttft_s},
          {"p99_ttft_s", s.p99_ttft_s},
          {"avg_tbt_s", s.avg_tbt_s},
          {"p99_tbt_s", s.p99_tbt_s},
          {"effective_request_ratio", s.effective_request_ratio},
          {"goodput_rps", s.goodput_rps},
          {"cached_token_ratio", s.cached_token_ratio},
          {"wall_seconds", s.wall_seconds}};
}

Status WriteOutputs(const std::string& dir, const std::vector<replay::RequestRecord>& records,
                    const nlohmann::json& summary) {
  KVC_RETURN_IF_ERROR(sim::MakeDirectories(dir));
  std::string jsonl,
      csv =
          "index,send_s,input_tokens,max_tokens,cached_tokens,completion_tokens,http_status,"
          "outcome,e2e_s,ttft_s,tbt_s\n";
  for (const auto& r : records) {
    nlohmann::json j = {{"index", r.index},
                        {"send_s", r.send_s},
                        {"send_unix_s", r.send_unix_s},
                        {"outcome", r.outcome},
                        {"http_status", r.http_status},
                        {"error", r.error},
                        {"stream_error_code", r.stream_error_code},
                        {"input_tokens", r.input_tokens},
                        {"max_tokens", r.max_tokens},
                        {"prompt_tokens", r.prompt_tokens},
                        {"cached_tokens", r.cached_tokens},
                        {"completion_tokens", r.completion_tokens},
                        {"ttft_s", r.ttft_s},
                        {"tbt_s", r.tbt_s},
                        {"e2e_s", r.e2e_s},
                        {"gaps_s", r.gaps_s}};
    jsonl += kvc::DumpJson(j) + "\n";
    const bool ok = r.outcome == "ok";
    csv += absl::StrFormat("%d,%.6f,%d,%d,%d,%d,%d,%s,%.6f,%.6f,%.6f\n", r.index, r.send_s,
                           r.input_tokens, r.max_tokens, r.cached_tokens, r.completion_tokens,
                           r.http_status, r.outcome, r.e2e_s, ok ? r.ttft_s : -1.0, r.tbt_s);
  }
  KVC_RETURN_IF_ERROR(sim::WriteTextFile(dir + "/requests.jsonl", jsonl));
  KVC_RETURN_IF_ERROR(sim::WriteTextFile(dir + "/requests.csv", csv));
  KVC_RETURN_IF_ERROR(sim::WriteTextFile(dir + "/summary.json", kvc::DumpJson(summary, 2) + "\n"));
  KVC_RETURN_IF_ERROR(sim::WriteTextFile(
      dir + "/plots.gp", sim::RunPlotScript(dir + "/requests.csv", dir + "/replay")));
  if (Status s = sim::RunGnuplot(dir + "/plots.gp"); !s.ok()) {
    std::fprintf(stderr, "kvc-bench replay: warning: %s\n", std::string(s.message()).c_str());
  }
  return Status();
}

int Run(const ReplayArgs& a) {
  auto trace = trace::LoadTrace(a.trace);
  if (!trace.ok()) {
    std::fprintf(stderr, "kvc-bench replay: %s\n", std::string(trace.status().message()).c_str());
    return 2;
  }
  double wall = 0;
  auto records = replay::Replay(*trace, a.options, &wall);
  if (!records.ok()) {
    std::fprintf(stderr, "kvc-bench replay: %s\n", std::string(records.status().message()).c_str());
    return 2;
  }
  const replay::ReplaySummary s = replay::Summarize(*records, a.options, wall);
  std::printf("%-26s %lld sent, %lld completed, %lld rejected (429), %lld errors\n", "requests",
              static_cast<long long>(s.requests), static_cast<long long>(s.completed),
              static_cast<long long>(s.rejected), static_cast<long long>(s.errors));
  std::printf("%-26s avg %.3f  p50 %.3f  p90 %.3f  p99 %.3f\n", "TTFT (s)", s.avg_ttft_s,
              s.p50_ttft_s, s.p90_ttft_s, s.p99_ttft_s);
  std::printf("%-26s avg %.4f  p99 %.4f\n", "TBT (s, longest 10% gaps)", s.avg_tbt_s, s.p99_tbt_s);
  std::printf("%-26s %.3f (TTFT <= %.2f s and TBT <= %.3f s)\n", "effective request ratio",
              s.effective_request_ratio, a.options.ttft_slo_s, a.options.tbt_slo_s);
  std::printf("%-26s %.3f req/s over %.1f s\n", "goodput", s.goodput_rps, s.wall_seconds);
  std::printf("%-26s %.3f\n", "cached token ratio", s.cached_token_ratio);
  const nlohmann::json summary = SummaryJson(s);
  if (!a.out.empty()) {
    if (Status st = WriteOutputs(a.out, *records, summary); !st.ok()) {
      std::fprintf(stderr, "kvc-bench replay: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  std::printf("%s\n", kvc::DumpJson(summary).c_str());
  return 0;
}

}  // namespace

BenchCommand RegisterReplayCommand(CLI::App& app) {
  auto args = std::make_shared<ReplayArgs>();
  auto* cmd =
      app.add_subcommand("replay", "open-loop trace replay against an OpenAI-compatible server");
  replay::ReplayOptions& o = args->options;
  cmd->add_option("--trace", args->trace, "Mooncake-format JSONL trace")->required();
  cmd->add_option("--url", o.url, "server base URL, http://host:port")->required();
  cmd->add_option("--model", o.model, "model id to request")->required();
  cmd->add_option("--speedup", o.speedup, "divide trace timestamps by this")->capture_default_str();
  cmd->add_option("--max-requests", o.max_requests, "stop after N requests (0 = all)");
  cmd->add_option("--max-seconds", o.max_seconds, "send only requests due in the first S seconds");
  cmd->add_option("--length-scale", o.length_scale,
                  "scale input/output lengths and the 512-token block (0, 1]")
      ->capture_default_str();
  cmd->add_option("--ttft-slo", o.ttft_slo_s, "TTFT objective (s)")->capture_default_str();
  cmd->add_option("--tbt-slo", o.tbt_slo_s, "TBT objective (s)")->capture_default_str();
  cmd->add_option("--out", args->out,
                  "write requests.jsonl, requests.csv, summary.json, PNG plots here");
  cmd->add_option("--api-key", o.api_key, "bearer key for the server");
  cmd->add_option("--vocab-size", o.vocab_size, "synthesized token ids are below this")
      ->capture_default_str();
  cmd->add_flag("--text-prompts", o.text_prompts,
                "send text prompts (for servers without token-id prompts)");
  cmd->add_option("--max-in-flight", o.max_in_flight, "client-side cap on open requests")
      ->capture_default_str();
  cmd->add_option("--request-timeout", o.request_timeout_s, "seconds before a request is abandoned")
      ->capture_default_str();
  cmd->add_flag("!--no-progress", o.progress, "no progress bar");
  return {cmd, [args] { return Run(*args); }};
}

}  // namespace kvc::bench
