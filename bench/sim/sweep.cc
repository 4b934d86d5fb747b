#include "bench/sim/sweep.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/sim/report.h"
#include "kvc/common/json.h"

namespace kvc::sim {
namespace {

StatusOr<std::vector<std::string>> SplitNames(const std::string& text) {
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    names.emplace_back(part.data(), part.size());
  }
  if (names.empty()) return absl::InvalidArgumentError("--systems is empty");
  return names;
}

nlohmann::json PointJson(const SweepPoint& p) {
  const SimSummary& s = p.summary;
  return {{"system", p.system},         {"rate_scale", p.rate_scale},
          {"tbt_slo_s", p.tbt_slo_s},   {"effective_request_ratio", s.effective_request_ratio},
          {"requests", s.requests},     {"completed", s.completed},
          {"rejected", s.rejected},     {"avg_ttft_s", s.avg_ttft_s},
          {"p99_ttft_s", s.p99_ttft_s}, {"avg_tbt_s", s.avg_tbt_s},
          {"p99_tbt_s", s.p99_tbt_s},   {"cache_hit_rate", s.cache_hit_rate}};
}

// One figure per rate (x: TBT objective) and one per TBT objective (x: rate); one line
// per system, read from sweep_<system>.dat (columns: rate, tbt, effective ratio).
std::string SweepPlotScript(const std::string& dir, const std::vector<std::string>& systems,
                            const std::vector<double>& rates, const std::vector<double>& tbts) {
  std::string s =
      "set terminal pngcairo size 800,500\nset grid\nset key bottom left\n"
      "set ylabel 'effective request ratio'\nset yrange [0:1.05]\n";
  auto plot = [&](int x_col, int filter_col, double value) {
    std::string cmd = "plot ";
    for (size_t i = 0; i < systems.size(); ++i) {
      // awk keeps the rows of one rate (or objective), so points join into lines.
      absl::StrAppendFormat(&cmd,
                            "%s\"< awk '$%d == %.17g' %s/sweep_%s.dat\" using %d:3 "
                            "with linespoints lw 2 title '%s'",
                            i ? ", " : "", filter_col, value, dir, systems[i], x_col, systems[i]);
    }
    return cmd + "\n";
  };
  for (double r : rates) {
    absl::StrAppendFormat(&s, "set output '%s/effective_vs_tbt_rate%g.png'\n", dir, r);
    absl::StrAppendFormat(&s, "set xlabel 'TBT objective (s)'\nset title 'rate x%g'\n", r);
    s += plot(2, 1, r);
  }
  for (double t : tbts) {
    absl::StrAppendFormat(&s, "set output '%s/effective_vs_rate_tbt%g.png'\n", dir, t);
    absl::StrAppendFormat(
        &s, "set xlabel 'request rate (x trace)'\nset title 'TBT objective %g s'\n", t);
    s += plot(1, 2, t);
  }
  return s;
}

Status WriteSweepOutputs(const std::string& out, const std::vector<SweepPoint>& points,
                         const std::vector<std::string>& systems, const std::vector<double>& rates,
                         const std::vector<double>& tbts) {
  KVC_RETURN_IF_ERROR(MakeDirectories(out));
  std::string jsonl;
  for (const SweepPoint& p : points) absl::StrAppend(&jsonl, kvc::DumpJson(PointJson(p)), "\n");
  KVC_RETURN_IF_ERROR(WriteTextFile(out + "/sweep.jsonl", jsonl));
  for (const std::string& system : systems) {
    std::string data;
    for (const SweepPoint& p : points) {
      if (p.system != system) continue;
      absl::StrAppendFormat(&data, "%.17g %.17g %.6f\n", p.rate_scale, p.tbt_slo_s,
                            p.summary.effective_request_ratio);
    }
    KVC_RETURN_IF_ERROR(WriteTextFile(out + "/sweep_" + system + ".dat", data));
  }
  return WriteTextFile(out + "/sweep.gp", SweepPlotScript(out, systems, rates, tbts));
}

}  // namespace

void BindSweepFlags(OptionSet& set, SweepFlags* flags) {
  set.Add("systems", &flags->systems,
          "comma-separated: random|load|local-cache|global-cache (disaggregated) and "
          "colocated-none|colocated-prefix|colocated-chunked");
  set.Add("tbt_slos", &flags->tbt_slos, "comma-separated TBT objectives, seconds");
  set.Add("rate_scales", &flags->rate_scales, "comma-separated request-rate multipliers");
}

StatusOr<std::vector<double>> ParseNumberList(const std::string& text, const char* flag) {
  std::vector<double> values;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    double v = 0;
    if (!absl::SimpleAtod(part, &v) || !(v >= 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": '", std::string(part.data(), part.size()), "' is not a non-negative number"));
    }
    values.push_back(v);
  }
  if (values.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " is empty"));
  return values;
}

StatusOr<SimOptions> OptionsForSystem(const SimOptions& base, const std::string& system) {
  SimOptions o = base;
  if (system.rfind("colocated-", 0) == 0) {
    KVC_ASSIGN_OR_RETURN(o.deployment, ParseColocated(system.substr(10)));
    if (o.deployment == Deployment::kDisaggregated) {
      return absl::InvalidArgumentError("unknown system 'colocated-disaggregated'");
    }
    o.policy = conductor::PrefillPolicy::kLocalCache;
    return o;
  }
  auto policy = conductor::ParsePrefillPolicy(system);
  if (!policy.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown system '", system,
                     "'; use random, load, local-cache, global-cache, "
                     "colocated-none, colocated-prefix or colocated-chunked"));
  }
  o.deployment = Deployment::kDisaggregated;
  o.policy = *policy;
  return o;
}

StatusOr<std::vector<SweepPoint>> Sweep(const std::vector<trace::TraceRequest>& trace,
                                        const SimOptions& base,
                                        const std::vector<std::string>& systems,
                                        const std::vector<double>& rate_scales,
                                        const std::vector<double>& tbt_slos) {
  std::vector<SweepPoint> points;
  for (const std::string& system : systems) {
    KVC_ASSIGN_OR_RETURN(SimOptions options, OptionsForSystem(base, system));
    for (double rate : rate_scales) {
      options.rate_scale = rate;
      StatusOr<SimResult> shared = absl::UnknownError("not run");
      for (double tbt : tbt_slos) {
        options.tbt_slo_s = tbt;
        const bool rerun = options.rejection != conductor::RejectionPolicy::kNone;
        if (rerun || !shared.ok()) shared = RunSimulation(trace, options);
        if (!shared.ok()) return shared.status();
        SweepPoint p{system, rate, tbt, shared->summary};
        p.summary.effective_request_ratio =
            EffectiveRequestRatio(shared->requests, options.ttft_slo_s, tbt);
        points.push_back(p);
      }
    }
  }
  return points;
}

int RunSweep(const std::string& trace_path, const SimOptions& base, const SweepFlags& flags,
             const std::string& out) {
  auto fail = [](const Status& s, int code) {
    std::fprintf(stderr, "kvc-sim: %s\n", std::string(s.message()).c_str());
    return code;
  };
  auto systems = SplitNames(flags.systems);
  if (!systems.ok()) return fail(systems.status(), 2);
  auto rates = ParseNumberList(flags.rate_scales, "--rate-scales");
  if (!rates.ok()) return fail(rates.status(), 2);
  auto tbts = ParseNumberList(flags.tbt_slos, "--tbt-slos");
  if (!tbts.ok()) return fail(tbts.status(), 2);
  for (const std::string& system : *systems) {
    if (auto o = OptionsForSystem(base, system); !o.ok()) return fail(o.status(), 2);
  }
  auto trace = trace::LoadTrace(trace_path);
  if (!trace.ok()) return fail(trace.status(), 2);
  auto points = Sweep(*trace, base, *systems, *rates, *tbts);
  if (!points.ok()) return fail(points.status(), 2);
  for (const SweepPoint& p : *points) std::printf("%s\n", kvc::DumpJson(PointJson(p)).c_str());
  if (out.empty()) return 0;
  if (Status s = WriteSweepOutputs(out, *points, *systems, *rates, *tbts); !s.ok()) {
    return fail(s, 1);
  }
  if (Status s = RunGnuplot(out + "/sweep.gp"); !s.ok()) {
    std::fprintf(stderr, "kvc-sim: warning: %s\n", std::string(s.message()).c_str());
  }
  return 0;
}

std::string CacheCurvePlotScript(const std::string& dir, double unbounded_rate) {
  return absl::StrFormat(
      "set terminal pngcairo size 800,500\nset grid\nset logscale x\nset key bottom right\n"
      "set xlabel 'global pool capacity (tokens)'\nset ylabel 'token prefix hit rate'\n"
      "set yrange [0:1]\nset output '%1$s/cache_curve.png'\n"
      "plot '%1$s/cache_curve.dat' using 1:2 with linespoints lw 2 title 'LRU pool', "
      "%2$.6f with lines dt 2 title 'unbounded'\n",
      dir, unbounded_rate);
}

}  // namespace kvc::sim
