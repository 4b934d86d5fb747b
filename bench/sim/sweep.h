// `kvc-sim sweep`: runs several systems at several request rates and computes the
// effective request ratio under several TBT objectives, then draws
// effective-ratio-vs-TBT-threshold and effective-ratio-vs-rate figures.
#pragma once

#include <string>
#include <vector>

#include "bench/sim/simulator.h"
#include "kvc/common/config.h"
#include "kvc/common/status.h"

namespace kvc::sim {

struct SweepFlags {
  // Systems: a policy name (random|load|local-cache|global-cache) is a disaggregated
  // cluster with that policy; colocated-none|colocated-prefix|colocated-chunked are the
  // baselines (placed by local-cache over their own caches).
  std::string systems = "global-cache,colocated-none,colocated-prefix,colocated-chunked";
  std::string tbt_slos = "0.1,0.2,0.3";  // seconds
  std::string rate_scales = "1,2,3,4";   // request-rate multipliers
};

void BindSweepFlags(OptionSet& set, SweepFlags* flags);

// "1e4, 2,3" -> {1e4, 2, 3}. InvalidArgument naming `flag` for anything else.
[[nodiscard]] StatusOr<std::vector<double>> ParseNumberList(const std::string& text,
                                                            const char* flag);

// Applies a system name to `base`. InvalidArgument for an unknown name.
[[nodiscard]] StatusOr<SimOptions> OptionsForSystem(const SimOptions& base,
                                                    const std::string& system);

struct SweepPoint {
  std::string system;
  double rate_scale = 0;
  double tbt_slo_s = 0;
  SimSummary summary;  // effective_request_ratio is for this tbt_slo_s
};

// Every (system, rate, TBT objective) point. Without rejection one run serves every TBT
// objective (they only change which requests count as effective); with rejection the
// objective changes the schedule, so each point is its own run.
[[nodiscard]] StatusOr<std::vector<SweepPoint>> Sweep(const std::vector<trace::TraceRequest>& trace,
                                                      const SimOptions& base,
                                                      const std::vector<std::string>& systems,
                                                      const std::vector<double>& rate_scales,
                                                      const std::vector<double>& tbt_slos);

// The CLI action: prints one JSON line per point, writes sweep.jsonl, data and PNGs
// to `out` when non-empty. Returns the exit code.
int RunSweep(const std::string& trace_path, const SimOptions& base, const SweepFlags& flags,
             const std::string& out);

// gnuplot script of `cache-curve --out DIR`.
std::string CacheCurvePlotScript(const std::string& dir, double unbounded_rate);

}  // namespace kvc::sim
