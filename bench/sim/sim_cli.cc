#include "bench/sim/sim_cli.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/sim/cache_curve.h"
#include "bench/sim/report.h"
#include "bench/sim/simulator.h"
#include "bench/sim/sweep.h"
#include "kvc/common/config.h"
#include "kvc/common/json.h"

namespace kvc::sim {
namespace {

// Flags shared by `run` and `sweep`, as given; ToSimOptions validates them.
struct SimFlags {
  std::string trace;
  int32_t prefill = 16;
  int32_t decode = 16;
  std::string policy = "global-cache";
  std::string colocated;  // "" = disaggregated
  std::string rejection = "none";
  std::string pool = "global";
  double cache_tokens = 3e6;
  double ttft_slo = 30;
  double tbt_slo = 0.1;
  double rate_scale = 1;
  double balancing_threshold = 1.25;
  int64_t chunk_tokens = 512;
  int64_t max_requests = 0;
  uint64_t seed = 1;
  std::string preset = "llama3-70b-a800x8";
  double nic_gbps = 0;
  int64_t decode_kv_tokens = 0;
  std::string out;
};

void BindSimFlags(OptionSet& set, SimFlags* f) {
  set.Add("trace", &f->trace, "trace file (Mooncake JSONL, docs/trace-format.md); required");
  set.Add("prefill", &f->prefill, "prefill nodes (colocated: nodes = prefill + decode)");
  set.Add("decode", &f->decode, "decode nodes");
  set.Add("policy", &f->policy, "prefill placement: random|load|local-cache|global-cache");
  set.Add("colocated", &f->colocated,
          "colocated baseline instead of disaggregation: none (no prefix cache) | prefix | "
          "chunked (prefix cache + chunked prefill); empty = disaggregated");
  set.Add("rejection", &f->rejection, "early rejection: none|plain|predictive");
  set.Add("pool", &f->pool, "global (nodes fetch prefixes from each other) | local");
  set.Add("cache_tokens", &f->cache_tokens,
          "per-node prefix cache capacity in tokens (<0: unbounded)");
  set.Add("ttft_slo", &f->ttft_slo, "TTFT objective, seconds");
  set.Add("tbt_slo", &f->tbt_slo, "TBT objective (mean of the longest 10% gaps), seconds");
  set.Add("rate_scale", &f->rate_scale, "multiplies the request rate (divides timestamps)");
  set.Add("balancing_threshold", &f->balancing_threshold, "kvcache_balancing_threshold (>= 1)");
  set.Add("chunk_tokens", &f->chunk_tokens, "prefill chunk of the colocated chunked baseline");
  set.Add("max_requests", &f->max_requests, "replay only the first N requests (0 = all)");
  set.Add("seed", &f->seed, "seed of the random policy");
  set.Add("preset", &f->preset, "performance preset: llama3-70b-a800x8 | llama3-70b-h800x8");
  set.Add("nic_gbps", &f->nic_gbps, "per-node transfer bandwidth in Gbit/s (0 = the preset's)");
  set.Add("decode_kv_tokens", &f->decode_kv_tokens,
          "per-node KV memory in tokens (0 = HBM left after the weights)");
  set.Add("out", &f->out, "directory for summary.json, requests.csv and PNG plots");
}

StatusOr<SimOptions> ToSimOptions(const SimFlags& f) {
  if (f.trace.empty()) return absl::InvalidArgumentError("--trace is required");
  SimOptions o;
  o.prefill_nodes = f.prefill;
  o.decode_nodes = f.decode;
  KVC_ASSIGN_OR_RETURN(o.policy, conductor::ParsePrefillPolicy(f.policy));
  KVC_ASSIGN_OR_RETURN(o.rejection, conductor::ParseRejectionPolicy(f.rejection));
  if (!f.colocated.empty()) {
    KVC_ASSIGN_OR_RETURN(o.deployment, ParseColocated(f.colocated));
    if (o.deployment == Deployment::kDisaggregated) {
      return absl::InvalidArgumentError("--colocated takes none, prefix or chunked");
    }
  }
  if (f.pool != "global" && f.pool != "local") {
    return absl::InvalidArgumentError(
        absl::StrCat("--pool must be global or local, got '", f.pool, "'"));
  }
  o.global_pool = f.pool == "global";
  o.cache_tokens = f.cache_tokens < 0 ? -1 : static_cast<int64_t>(f.cache_tokens);
  o.ttft_slo_s = f.ttft_slo;
  o.tbt_slo_s = f.tbt_slo;
  o.rate_scale = f.rate_scale;
  o.kvcache_balancing_threshold = f.balancing_threshold;
  o.chunk_tokens = f.chunk_tokens;
  o.max_requests = f.max_requests;
  o.seed = f.seed;
  o.preset = f.preset;
  o.nic_gbps = f.nic_gbps;
  o.decode_kv_tokens = f.decode_kv_tokens;
  KVC_RETURN_IF_ERROR(ValidateSimOptions(o));
  return o;
}

int Fail(int code, const Status& s) {
  std::fprintf(stderr, "kvc-sim: %s\n", std::string(s.message()).c_str());
  return code;
}

void Warn(const Status& s) {
  if (!s.ok()) std::fprintf(stderr, "kvc-sim: warning: %s\n", std::string(s.message()).c_str());
}

int Run(const SimFlags& flags) {
  auto options = ToSimOptions(flags);
  if (!options.ok()) return Fail(2, options.status());
  auto trace = trace::LoadTrace(flags.trace);
  if (!trace.ok()) return Fail(2, trace.status());
  const auto start = std::chrono::steady_clock::now();
  auto result = RunSimulation(*trace, *options);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result.ok()) return Fail(2, result.status());
  const nlohmann::json summary = SummaryJson(*options, result->summary, wall);
  if (!flags.out.empty()) {
    const std::string& d = flags.out;
    Status s = MakeDirectories(d);
    if (s.ok()) s = WriteTextFile(d + "/summary.json", kvc::DumpJson(summary, 2) + "\n");
    if (s.ok()) s = WriteRequestsCsv(d + "/requests.csv", result->requests);
    if (s.ok()) s = WriteTextFile(d + "/plots.gp", RunPlotScript(d + "/requests.csv", d + "/cdf"));
    if (!s.ok()) return Fail(1, s);
    Warn(RunGnuplot(d + "/plots.gp"));
  }
  std::printf("%s\n", kvc::DumpJson(summary).c_str());
  return 0;
}

int CacheCurve(const std::string& trace_path, const std::string& capacities,
               const std::string& out) {
  auto caps = ParseNumberList(capacities, "--capacities");
  if (!caps.ok()) return Fail(2, caps.status());
  auto trace = trace::LoadTrace(trace_path);
  if (!trace.ok()) return Fail(2, trace.status());
  std::string data;
  for (double cap : *caps) {
    const double rate = PrefixHitRate(*trace, static_cast<int64_t>(cap));
    nlohmann::json j = {{"capacity_tokens", static_cast<int64_t>(cap)}, {"hit_rate", rate}};
    std::printf("%s\n", kvc::DumpJson(j).c_str());
    absl::StrAppend(&data, static_cast<int64_t>(cap), " ", rate, "\n");
  }
  const double unbounded = PrefixHitRate(*trace, -1);
  std::printf(
      "%s\n",
      kvc::DumpJson(nlohmann::json({{"capacity_tokens", "inf"}, {"hit_rate", unbounded}})).c_str());
  if (out.empty()) return 0;
  Status s = MakeDirectories(out);
  if (s.ok()) s = WriteTextFile(out + "/cache_curve.dat", data);
  if (s.ok()) s = WriteTextFile(out + "/cache_curve.gp", CacheCurvePlotScript(out, unbounded));
  if (!s.ok()) return Fail(1, s);
  Warn(RunGnuplot(out + "/cache_curve.gp"));
  return 0;
}

}  // namespace

int RunSimCli(int argc, char** argv) {
  CLI::App app(
      "kvc-sim: discrete-event simulator of a kvc cluster running the real scheduling policy "
      "library on virtual time.\nSubcommands: run, cache-curve, sweep (each has --help).",
      "kvc-sim");
  std::string log_level = "info";
  OptionSet top;
  top.Add("log_level", &log_level, "trace|debug|info|warn|error|critical|off");
  top.AttachTo(app);

  CLI::App* run = app.add_subcommand("run", "simulate one configuration; last stdout line is JSON");
  SimFlags run_flags;
  OptionSet run_set;
  BindSimFlags(run_set, &run_flags);
  run_set.AttachTo(*run);

  CLI::App* curve =
      app.add_subcommand("cache-curve", "prefix hit rate of a global LRU pool per capacity");
  std::string curve_trace, curve_caps = "1e4,1e5,1e6,3e6,1e7,5e7,1e8", curve_out;
  curve->add_option("--trace", curve_trace, "trace file")->required();
  curve->add_option("--capacities", curve_caps, "comma-separated capacities in tokens");
  curve->add_option("--out", curve_out, "directory for cache_curve.dat and cache_curve.png");

  CLI::App* sweep = app.add_subcommand("sweep", "run several systems and rates; draw figures");
  SimFlags sweep_flags;
  SweepFlags sweep_extra;
  OptionSet sweep_set;
  BindSimFlags(sweep_set, &sweep_flags);
  BindSweepFlags(sweep_set, &sweep_extra);
  sweep_set.AttachTo(*sweep);

  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help is 0; every usage error is 2
  }
  if (Status s = top.Resolve(); !s.ok()) return Fail(2, s);
  if (run->parsed()) {
    if (Status s = run_set.Resolve(); !s.ok()) return Fail(2, s);
    return Run(run_flags);
  }
  if (curve->parsed()) return CacheCurve(curve_trace, curve_caps, curve_out);
  if (Status s = sweep_set.Resolve(); !s.ok()) return Fail(2, s);
  auto options = ToSimOptions(sweep_flags);
  if (!options.ok()) return Fail(2, options.status());
  return RunSweep(sweep_flags.trace, *options, sweep_extra, sweep_flags.out);
}

}  // namespace kvc::sim
