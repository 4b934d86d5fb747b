#include "kvc/common/net_address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kvc {

std::string HostOfAddress(const std::string& address) {
  if (address.empty()) return "";
  if (address.front() == '[') {
    const size_t close = address.find(']');
    return close == std::string::npos ? address.substr(1) : address.substr(1, close - 1);
  }
  const size_t first = address.find(':');
  if (first == std::string::npos) return address;                         // bare IPv4 / name
  if (address.find(':', first + 1) != std::string::npos) return address;  // bare IPv6
  return address.substr(0, first);
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

bool IsUnspecifiedHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0";
}

std::string JoinHostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string PublishedAddress(const std::string& advertise, const std::string& bound) {
  if (!advertise.empty()) return advertise;
  if (!IsUnspecifiedHost(HostOfAddress(bound))) return bound;
  return absl::StrCat("127.0.0.1", bound.substr(bound.rfind(':')));
}

std::vector<std::string> HostPortsOfUrls(const std::string& urls) {
  std::vector<std::string> out;
  for (absl::string_view url : absl::StrSplit(urls, ',', absl::SkipWhitespace())) {
    url = absl::StripAsciiWhitespace(url);
    const size_t scheme = url.find("://");
    if (scheme != absl::string_view::npos) url.remove_prefix(scheme + 3);
    const size_t path = url.find('/');
    if (path != absl::string_view::npos) url = url.substr(0, path);
    if (!url.empty()) out.emplace_back(url);
  }
  return out;
}

Status CheckAdvertisedAddress(const std::string& field, const std::string& address,
                              const std::vector<std::string>& remotes, const std::string& fix) {
  const std::string host = HostOfAddress(address);
  if (IsUnspecifiedHost(host)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", address,
                                                   "' is not an address a peer can dial "
                                                   "(unspecified host); ",
                                                   fix));
  }
  if (!IsLoopbackHost(host)) return Status();
  for (const std::string& remote : remotes) {
    if (remote.empty()) continue;
    const std::string remote_host = HostOfAddress(remote);
    if (!IsLoopbackHost(remote_host)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": '", address, "' is a loopback address but the cluster is reached at '", remote,
          "' on another host, whose processes would dial themselves; ", fix));
    }
  }
  return Status();
}

}  // namespace kvc
