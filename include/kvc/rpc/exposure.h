// Secure by default: a server role that listens on a non-loopback address must
// have its secrets (the cluster token; the conductor also the admin token)
// unless the operator says --insecure. StartRole applies this rule to every role
// (kvc-master, kvc-store, kvc-conductor, kvc-prefill, kvc-decode). Pure
// functions; thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kvc/common/status.h"

namespace kvc {

// What a role exposes and what guards it.
struct Exposure {
  // Every address the process binds: "host:port", "[v6]:port" or a bare host.
  // "" entries (a listener that is off) are ignored.
  std::vector<std::string> listen_addresses;
  // The options that must be set when any listener is not loopback:
  // {option name, value}, e.g. {"cluster_token", options.cluster_token}.
  std::vector<std::pair<std::string, std::string>> secrets;
  bool insecure = false;  // the operator's explicit --insecure (config insecure, KVC_INSECURE)
};

// The listen addresses of `exposure` that are not loopback (wildcards count as
// not loopback), in order.
std::vector<std::string> ExposedAddresses(const Exposure& exposure);

// INVALID_ARGUMENT naming the empty secrets, the exposed addresses, and what to
// set (the flags, KVC_* variables, or --insecure) when some listener is not
// loopback and some secret is empty and `insecure` is false; OK otherwise.
[[nodiscard]] Status CheckExposure(const Exposure& exposure);

// The warning to log at every start of a process run with --insecure (it names
// the empty secrets and the exposed addresses); "" when `insecure` is false.
std::string InsecureWarning(const std::string& program, const Exposure& exposure);

}  // namespace kvc
