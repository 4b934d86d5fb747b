// Helpers for the addresses a process binds and the addresses it publishes to its
// peers ("advertises"). A process may bind a wildcard (0.0.0.0, [::]) or
// loopback address, but what it publishes is dialled by other hosts: publishing
// 0.0.0.0:PORT makes every peer dial itself, publishing 127.0.0.1 only works
// when every peer is on the same host. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc {

// The host part of "host:port", "[v6]:port" (without brackets) or a bare host
// ("10.0.0.2", "[::1]", "::1"). "" for "".
std::string HostOfAddress(const std::string& address);
// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);
// True for the wildcards 0.0.0.0, ::, and "" (nothing a peer could dial).
bool IsUnspecifiedHost(const std::string& host);
// "host:port" with IPv6 hosts bracketed.
std::string JoinHostPort(const std::string& host, int port);

// What a server announces to its peers: `advertise` when set, else `bound`
// ("host:port" it listens on) with a wildcard host replaced by 127.0.0.1 (a
// wildcard is not a destination; reachable from this host only).
std::string PublishedAddress(const std::string& advertise, const std::string& bound);
// "host:port" of each URL in a comma-separated list ("http://10.0.0.1:2379,...").
std::vector<std::string> HostPortsOfUrls(const std::string& urls);

// The address of `field` (e.g. "transfer.advertise_address") that peers will
// dial, checked against the addresses of the cluster it joins (`remotes`: the
// master, the conductor; "" entries are ignored): INVALID_ARGUMENT naming
// `field` when its host is unspecified, or loopback while some remote is not
// loopback (a remote peer would dial itself). `fix` is appended to the message
// (what option to set).
[[nodiscard]] Status CheckAdvertisedAddress(const std::string& field, const std::string& address,
                                            const std::vector<std::string>& remotes,
                                            const std::string& fix);

}  // namespace kvc
