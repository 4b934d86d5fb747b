#include "bench/trace/trace.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "kvc/common/json.h"

namespace kvc::trace {
namespace {

using nlohmann::json;

Status LineError(const std::string& origin, int64_t line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(origin, ":", line, ": ", what));
}

// Reads a positive integer from `primary` or its alias; both present must agree.
StatusOr<int64_t> PositiveInt(const json& obj, const char* primary, const char* alias) {
  const json* value = nullptr;
  if (obj.contains(primary)) value = &obj[primary];
  if (obj.contains(alias)) {
    if (value != nullptr && *value != obj[alias]) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", primary, "' and its alias '", alias, "' disagree"));
    }
    value = &obj[alias];
  }
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("missing '", primary, "' (or '", alias, "')"));
  }
  if (!value->is_number_integer() || value->get<int64_t>() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", primary, "' must be a positive integer, got ", kvc::DumpJson(*value)));
  }
  return value->get<int64_t>();
}

Status ReadHashIds(const json& obj, TraceRequest& request) {
  if (!obj.contains("hash_ids")) return Status();
  const json& ids = obj["hash_ids"];
  if (!ids.is_array()) return absl::InvalidArgumentError("'hash_ids' must be an array");
  for (const json& id : ids) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'hash_ids' must hold non-negative integers, got ", kvc::DumpJson(id)));
    }
    request.hash_ids.push_back(id.get<int64_t>());
  }
  // Rounded up without overflow: input_length may be as large as INT64_MAX (found by tests/fuzz).
  const int64_t max_blocks =
      request.input_length / kBlockTokens + (request.input_length % kBlockTokens != 0 ? 1 : 0);
  if (static_cast<int64_t>(request.hash_ids.size()) > max_blocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("'hash_ids' has ", request.hash_ids.size(), " blocks but input_length ",
                     request.input_length, " covers at most ", max_blocks, " blocks of ",
                     kBlockTokens, " tokens"));
  }
  return Status();
}

Status ReadRequest(const json& obj, TraceRequest& request) {
  if (!obj.is_object()) return absl::InvalidArgumentError("line is not a JSON object");
  if (!obj.contains("timestamp") || !obj["timestamp"].is_number() ||
      obj["timestamp"].get<double>() < 0) {
    return absl::InvalidArgumentError("'timestamp' (ms) must be a non-negative number");
  }
  request.timestamp_ms = obj["timestamp"].get<double>();
  KVC_ASSIGN_OR_RETURN(request.input_length, PositiveInt(obj, "input_length", "input_tokens"));
  KVC_ASSIGN_OR_RETURN(request.output_length, PositiveInt(obj, "output_length", "output_tokens"));
  KVC_RETURN_IF_ERROR(ReadHashIds(obj, request));
  if (obj.contains("session_id")) {
    const json& sid = obj["session_id"];
    if (sid.is_string()) {
      request.session_id = sid.get<std::string>();
    } else if (sid.is_number_integer()) {
      request.session_id = std::to_string(sid.get<int64_t>());
    } else {
      return absl::InvalidArgumentError("'session_id' must be a string or an integer");
    }
  }
  return Status();
}

}  // namespace

StatusOr<TraceRequest> ParseTraceLine(std::string_view line, const std::string& origin,
                                      int64_t line_number) {
  json obj = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return LineError(origin, line_number, "not valid JSON");
  TraceRequest request;
  if (Status s = ReadRequest(obj, request); !s.ok()) {
    return LineError(origin, line_number, std::string(s.message()));
  }
  return request;
}

StatusOr<std::vector<TraceRequest>> ParseTrace(std::istream& in, const std::string& origin) {
  std::vector<TraceRequest> requests;
  std::string line;
  for (int64_t line_number = 1; std::getline(in, line); ++line_number) {
    if (std::all_of(line.begin(), line.end(), [](char c) { return std::isspace(c) != 0; })) {
      continue;
    }
    KVC_ASSIGN_OR_RETURN(TraceRequest request, ParseTraceLine(line, origin, line_number));
    if (!requests.empty() && request.timestamp_ms < requests.back().timestamp_ms) {
      return LineError(
          origin, line_number,
          absl::StrCat("timestamp ", request.timestamp_ms, " is earlier than the previous line's ",
                       requests.back().timestamp_ms, "; sort the trace by time"));
    }
    request.index = static_cast<int64_t>(requests.size());
    requests.push_back(std::move(request));
  }
  if (requests.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": trace holds no requests"));
  }
  return requests;
}

StatusOr<std::vector<TraceRequest>> LoadTrace(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open trace file '", path, "'"));
  return ParseTrace(in, path);
}

int64_t PrefixTokens(const TraceRequest& request, int64_t matched_blocks) {
  // Compared before multiplying, so a huge block count cannot overflow.
  if (matched_blocks <= 0) return 0;
  if (matched_blocks > request.input_length / kBlockTokens) return request.input_length;
  return matched_blocks * kBlockTokens;
}

}  // namespace kvc::trace
