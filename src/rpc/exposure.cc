#include "kvc/rpc/exposure.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "kvc/common/net_address.h"

namespace kvc {
namespace {

std::vector<std::string> EmptySecrets(const Exposure& e) {
  std::vector<std::string> out;
  for (const auto& [name, value] : e.secrets) {
    if (value.empty()) out.push_back(name);
  }
  return out;
}

// "--cluster-token (KVC_CLUSTER_TOKEN or KVC_CLUSTER_TOKEN_FILE)" for "cluster_token".
std::string HowToSet(const std::string& name) {
  const std::string env = "KVC_" + absl::AsciiStrToUpper(name);
  return absl::StrCat("--", absl::StrReplaceAll(name, {{"_", "-"}, {".", "-"}}), " (", env, ", or ",
                      env, "_FILE with the container entrypoint)");
}

}  // namespace

std::vector<std::string> ExposedAddresses(const Exposure& e) {
  std::vector<std::string> out;
  for (const std::string& a : e.listen_addresses) {
    if (!a.empty() && !IsLoopbackHost(HostOfAddress(a))) out.push_back(a);
  }
  return out;
}

Status CheckExposure(const Exposure& e) {
  if (e.insecure) return Status();
  const std::vector<std::string> exposed = ExposedAddresses(e);
  const std::vector<std::string> empty = EmptySecrets(e);
  if (exposed.empty() || empty.empty()) return Status();
  std::vector<std::string> how;
  for (const std::string& name : empty) how.push_back(HowToSet(name));
  return absl::InvalidArgumentError(absl::StrCat(
      absl::StrJoin(empty, ", "), ": not set, but this process listens on ",
      absl::StrJoin(exposed, ", "),
      " (not loopback), where anyone who can reach it could use it; set ",
      absl::StrJoin(how, " and "),
      ", or listen on 127.0.0.1 only, or pass --insecure (insecure: true, KVC_INSECURE=true) "
      "to run open on purpose"));
}

std::string InsecureWarning(const std::string& program, const Exposure& e) {
  if (!e.insecure) return "";
  const std::vector<std::string> exposed = ExposedAddresses(e);
  const std::vector<std::string> empty = EmptySecrets(e);
  std::string what = "every secret is set and every listener is loopback, so nothing is open now";
  if (!empty.empty()) {
    what = absl::StrCat(absl::StrJoin(empty, ", "), " not set: its endpoints are open to ",
                        exposed.empty() ? std::string("this host")
                                        : "anyone who reaches " + absl::StrJoin(exposed, ", "));
  }
  return absl::StrCat("*** ", program,
                      " runs with --insecure: the rule that a non-loopback listener needs its "
                      "secrets is off (",
                      what, "). Never use it outside a trusted test network. ***");
}

}  // namespace kvc
