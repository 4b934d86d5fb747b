// Output of kvc-sim: the JSON summary line, the per-request CSV and gnuplot figures.
// Functions that write files return a Status naming the path on failure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/sim/simulator.h"
#include "kvc/common/status.h"

namespace kvc::sim {

// Every field of the summary plus the configuration and speed (wall_seconds, events_per_s).
nlohmann::json SummaryJson(const SimOptions& options, const SimSummary& summary,
                           double wall_seconds);

// One row per request: index, arrival_s, input/output/prefix/fetched tokens, nodes,
// rejected, ttft_s, tbt_s, finish_s.
[[nodiscard]] Status WriteRequestsCsv(const std::string& path,
                                      const std::vector<RequestResult>& requests);

[[nodiscard]] Status WriteTextFile(const std::string& path, const std::string& text);

// Creates `dir` (and parents). InvalidArgument when it exists and is not a directory.
[[nodiscard]] Status MakeDirectories(const std::string& dir);

// Runs `gnuplot script_path`. Unavailable when gnuplot is missing or fails (plots are
// optional: callers warn and go on).
[[nodiscard]] Status RunGnuplot(const std::string& script_path);

// gnuplot script drawing TTFT and TBT CDFs of `csv_path` into `png_prefix`_ttft.png/_tbt.png.
std::string RunPlotScript(const std::string& csv_path, const std::string& png_prefix);

}  // namespace kvc::sim
