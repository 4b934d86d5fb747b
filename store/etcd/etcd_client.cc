#include "store/etcd/etcd_client.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kvc/common/json.h"
#include "kvc/http/client.h"

namespace kvc::store {
namespace {

using nlohmann::json;

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

// etcd's gateway encodes int64 as JSON strings.
int64_t Int64Field(const json& j, const char* name) {
  if (!j.contains(name)) return 0;
  int64_t v = 0;
  if (j[name].is_string()) {
    (void)absl::SimpleAtoi(j[name].get<std::string>(), &v);
  } else if (j[name].is_number_integer()) {
    v = j[name].get<int64_t>();
  }
  return v;
}

StatusOr<json> Parse(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError("etcd: unparsable answer: " + body.substr(0, 200));
  }
  return j;
}

// One POST of JSON `body` to `endpoint` + `path` ("http://host:port", no path);
// the body of a 2xx answer, INTERNAL "HTTP <code>: <body>" for other statuses.
// `timeout` bounds the whole request.
StatusOr<std::string> PostJson(const std::string& endpoint, const std::string& path,
                               const std::string& body, std::chrono::milliseconds timeout) {
  StatusOr<http::Url> url = http::ParseUrl(endpoint);
  const std::string authority = endpoint.substr(std::min(endpoint.size(), size_t{7}));
  if (!url.ok() || !url->path_prefix.empty() || authority.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint '", endpoint, "' is not http://host:port"));
  }
  http::RequestOptions o;
  o.connect_timeout = o.idle_timeout = o.total_timeout = timeout;
  KVC_ASSIGN_OR_RETURN(http::Response r, http::Fetch(*url, "POST", path, body, o));
  if (r.status < 200 || r.status > 299) {
    return absl::InternalError(absl::StrCat("HTTP ", r.status, ": ", r.body));
  }
  return std::move(r.body);
}

}  // namespace

EtcdClient::EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {}

StatusOr<std::vector<std::string>> EtcdClient::ParseEndpoints(const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    out.emplace_back(part.data(), part.size());
  }
  if (out.empty()) return absl::InvalidArgumentError("etcd.endpoints: empty list");
  return out;
}

StatusOr<std::string> EtcdClient::Post(const std::string& path, const std::string& body) {
  Status last = absl::UnavailableError("etcd: no endpoint");
  for (const std::string& endpoint : endpoints_) {
    auto r = PostJson(endpoint, path, body, timeout_);
    if (r.ok()) return r;
    last = r.status();
  }
  return Status(last.code(), absl::StrCat("etcd ", path, ": ", last.message()));
}

StatusOr<int64_t> EtcdClient::GrantLease(int64_t ttl_s) {
  KVC_ASSIGN_OR_RETURN(std::string body,
                       Post("/v3/lease/grant", kvc::DumpJson(json{{"TTL", ttl_s}})));
  KVC_ASSIGN_OR_RETURN(json j, Parse(body));
  const int64_t id = Int64Field(j, "ID");
  if (id == 0) return absl::InternalError("etcd: lease grant without ID: " + body);
  return id;
}

Status EtcdClient::KeepAlive(int64_t lease_id) {
  KVC_ASSIGN_OR_RETURN(
      std::string body,
      Post("/v3/lease/keepalive", kvc::DumpJson(json{{"ID", std::to_string(lease_id)}})));
  KVC_ASSIGN_OR_RETURN(json j, Parse(body));
  const json result = j.contains("result") ? j["result"] : j;
  if (Int64Field(result, "TTL") <= 0) {
    return absl::NotFoundError(absl::StrCat("etcd: lease ", lease_id, " has expired"));
  }
  return Status();
}

Status EtcdClient::RevokeLease(int64_t lease_id) {
  return Post("/v3/lease/revoke", kvc::DumpJson(json{{"ID", std::to_string(lease_id)}})).status();
}

StatusOr<bool> EtcdClient::CreateIfAbsent(const std::string& key, const std::string& value,
                                          int64_t lease_id) {
  const json txn = {
      {"compare",
       json::array({{{"key", B64(key)}, {"target", "CREATE"}, {"create_revision", "0"}}})},
      {"success",
       json::array(
           {{{"request_put",
              {{"key", B64(key)}, {"value", B64(value)}, {"lease", std::to_string(lease_id)}}}}})}};
  KVC_ASSIGN_OR_RETURN(std::string body, Post("/v3/kv/txn", kvc::DumpJson(txn)));
  KVC_ASSIGN_OR_RETURN(json j, Parse(body));
  return j.contains("succeeded") && j["succeeded"].is_boolean() && j["succeeded"].get<bool>();
}

StatusOr<std::optional<std::string>> EtcdClient::Get(const std::string& key) {
  KVC_ASSIGN_OR_RETURN(std::string body,
                       Post("/v3/kv/range", kvc::DumpJson(json{{"key", B64(key)}})));
  KVC_ASSIGN_OR_RETURN(json j, Parse(body));
  if (!j.contains("kvs") || !j["kvs"].is_array() || j["kvs"].empty()) {
    return std::optional<std::string>();
  }
  const json& kv = j["kvs"][0];
  std::string value;
  if (kv.contains("value") && kv["value"].is_string() &&
      !absl::Base64Unescape(kv["value"].get<std::string>(), &value)) {
    return absl::InternalError("etcd: value of " + key + " is not base64");
  }
  return std::optional<std::string>(value);
}

}  // namespace kvc::store
