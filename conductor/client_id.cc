#include "kvc/conductor/client_id.h"

#include "absl/strings/match.h"
#include "kvc/rpc/auth.h"

namespace kvc::conductor {
namespace {

// The host part of a bare address, host:port, [v6]:port or a gRPC peer string.
std::string HostOf(std::string peer) {
  for (const char* prefix : {"ipv4:", "ipv6:", "unix:"}) {
    if (absl::StartsWith(peer, prefix)) peer = peer.substr(std::string(prefix).size());
  }
  if (!peer.empty() && peer.front() == '[') {
    const size_t close = peer.find(']');
    return close == std::string::npos ? peer : peer.substr(1, close - 1);
  }
  const size_t colon = peer.find(':');
  // One colon: host:port. None: a bare IPv4 address. Several: a bare IPv6 address.
  if (colon != std::string::npos && peer.find(':', colon + 1) == std::string::npos) {
    return peer.substr(0, colon);
  }
  return peer;
}

}  // namespace

std::string ClientId(const std::vector<std::string>& api_keys, const std::string& authorization,
                     const std::string& peer) {
  for (size_t i = 0; i < api_keys.size(); ++i) {
    if (BearerMatches(authorization, api_keys[i])) return "key:" + std::to_string(i);
  }
  const std::string host = HostOf(peer);
  return host.empty() ? "" : "addr:" + host;
}

}  // namespace kvc::conductor
