#include "bench/sim/report.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvc::sim {

nlohmann::json SummaryJson(const SimOptions& o, const SimSummary& s, double wall_seconds) {
  nlohmann::json j;
  j["requests"] = s.requests;
  j["completed"] = s.completed;
  j["rejected"] = s.rejected;
  j["avg_ttft_s"] = s.avg_ttft_s;
  j["p50_ttft_s"] = s.p50_ttft_s;
  j["p90_ttft_s"] = s.p90_ttft_s;
  j["p99_ttft_s"] = s.p99_ttft_s;
  j["avg_tbt_s"] = s.avg_tbt_s;
  j["p99_tbt_s"] = s.p99_tbt_s;
  j["cache_hit_rate"] = s.cache_hit_rate;
  j["prefill_gpu_seconds"] = s.prefill_gpu_seconds;
  j["effective_request_ratio"] = s.effective_request_ratio;
  j["input_tokens"] = s.input_tokens;
  j["output_tokens"] = s.output_tokens;
  j["makespan_s"] = s.makespan_s;
  j["events"] = s.events;
  j["wall_seconds"] = wall_seconds;
  j["events_per_s"] = wall_seconds > 0 ? s.events / wall_seconds : 0.0;
  j["deployment"] = DeploymentName(o.deployment);
  j["policy"] = conductor::PrefillPolicyName(o.policy);
  j["prefill_nodes"] = o.prefill_nodes;
  j["decode_nodes"] = o.decode_nodes;
  j["cache_tokens"] = o.cache_tokens;
  j["global_pool"] = o.global_pool;
  j["ttft_slo_s"] = o.ttft_slo_s;
  j["tbt_slo_s"] = o.tbt_slo_s;
  j["rate_scale"] = o.rate_scale;
  j["preset"] = o.preset;
  j["nic_gbps"] = o.nic_gbps;
  j["decode_kv_tokens"] = o.decode_kv_tokens;
  j["seed"] = o.seed;
  return j;
}

Status WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write '", path, "'"));
  return Status();
}

Status WriteRequestsCsv(const std::string& path, const std::vector<RequestResult>& requests) {
  std::string text =
      "index,arrival_s,input_tokens,output_tokens,prefix_tokens,fetched_tokens,prefill_node,"
      "decode_node,rejected,ttft_s,tbt_s,finish_s,generated_tokens\n";
  for (const RequestResult& r : requests) {
    absl::StrAppendFormat(&text, "%d,%.6f,%d,%d,%d,%d,%d,%d,%d,%.6f,%.6f,%.6f,%d\n", r.index,
                          r.arrival_s, r.input_tokens, r.output_tokens, r.prefix_tokens,
                          r.fetched_tokens, r.prefill_node, r.decode_node, r.rejected ? 1 : 0,
                          r.ttft_s, r.tbt_s, r.finish_s, r.generated_tokens);
  }
  return WriteTextFile(path, text);
}

Status MakeDirectories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create output directory '", dir,
                                                   "': ", ec ? ec.message() : "not a directory"));
  }
  return Status();
}

Status RunGnuplot(const std::string& script_path) {
  const std::string command = absl::StrCat("gnuplot '", script_path, "' 2>/dev/null");
  if (std::system(command.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("gnuplot failed on '", script_path, "' (is gnuplot-nox installed?)"));
  }
  return Status();
}

std::string RunPlotScript(const std::string& csv_path, const std::string& png_prefix) {
  // CDFs over completed requests (rejected rows have ttft_s < 0); column 10 is ttft_s,
  // column 11 tbt_s.
  return absl::StrFormat(
      "set terminal pngcairo size 800,500\n"
      "set datafile separator ','\n"
      "set key off\nset grid\nset ylabel 'share of completed requests'\n"
      "set output '%1$s_ttft.png'\nset xlabel 'TTFT (s)'\nset title 'TTFT CDF'\n"
      "plot '%2$s' every ::1 using ($10 >= 0 ? $10 : 1/0):(1.0) smooth cnormal with lines lw 2\n"
      "set output '%1$s_tbt.png'\nset xlabel 'TBT, mean of longest 10%% gaps (s)'\n"
      "set title 'TBT CDF'\n"
      "plot '%2$s' every ::1 using ($10 >= 0 ? $11 : 1/0):(1.0) smooth cnormal with lines lw 2\n",
      png_prefix, csv_path);
}

}  // namespace kvc::sim
