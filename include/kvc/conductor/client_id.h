// The client id the conductor sends with a decode reservation
// (ReserveRequest.client_id): decode nodes bound the KV blocks one client may hold
// in quarantine by it.
#pragma once

#include <string>
#include <vector>

namespace kvc::conductor {

// "key:<n>" when `authorization` carries the n-th of `api_keys` (0-based; the key
// itself never leaves the conductor), else "addr:<host>" of `peer` ("" when both
// are unknown). `peer` is a bare address ("127.0.0.1"), a gRPC peer
// ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000") or host:port. Clients behind one
// proxy and without API keys share one id.
std::string ClientId(const std::vector<std::string>& api_keys, const std::string& authorization,
                     const std::string& peer);

}  // namespace kvc::conductor
