#include "transfer/internal/verbs_wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace kvc::transfer::internal {
namespace {

void Put(std::string* out, const void* data, size_t n) {
  out->append(static_cast<const char*>(data), n);
}
template <typename T>
void PutInt(std::string* out, T value) {
  Put(out, &value, sizeof(value));  // little-endian host (wire.h asserts it)
}
template <typename T>
T GetInt(const std::string& in, size_t* at) {
  T value;
  std::memcpy(&value, in.data() + *at, sizeof(value));
  *at += sizeof(value);
  return value;
}

Status CheckAddress(const VerbsAddress& a) {
  if (a.qpn > 0xFFFFFF || a.psn > 0xFFFFFF || a.mtu < 1 || a.mtu > 5) {
    return absl::InvalidArgumentError(absl::StrCat("verbs handshake: bad QP address (qpn ", a.qpn,
                                                   ", psn ", a.psn, ", mtu ", a.mtu, ")"));
  }
  return absl::OkStatus();
}

Status CheckNic(const std::string& nic) {
  if (nic.empty() || nic.size() >= kVerbsNicNameBytes || nic.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("verbs handshake: bad NIC name '", nic.substr(0, 80), "'"));
  }
  return absl::OkStatus();
}

void PutHeader(std::string* out) {
  PutInt<uint32_t>(out, kVerbsMagic);
  PutInt<uint16_t>(out, kVerbsVersion);
  PutInt<uint16_t>(out, 0);
}

Status GetHeader(const std::string& in, size_t want, size_t* at) {
  if (in.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("verbs handshake: message of ", in.size(), " bytes, want ", want));
  }
  const auto magic = GetInt<uint32_t>(in, at);
  const auto version = GetInt<uint16_t>(in, at);
  *at += 2;
  if (magic != kVerbsMagic) return absl::InvalidArgumentError("verbs handshake: bad magic");
  if (version != kVerbsVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("verbs handshake: version ", version, " (want ", kVerbsVersion, ")"));
  }
  return absl::OkStatus();
}

void PutNic(std::string* out, const std::string& nic) {
  std::string padded = nic;
  padded.resize(kVerbsNicNameBytes, '\0');
  out->append(padded);
}

StatusOr<std::string> GetNic(const std::string& in, size_t* at) {
  const std::string field = in.substr(*at, kVerbsNicNameBytes);
  *at += kVerbsNicNameBytes;
  const size_t end = field.find('\0');
  if (end == std::string::npos)
    return absl::InvalidArgumentError("verbs handshake: NIC name not terminated");
  const std::string nic = field.substr(0, end);
  KVC_RETURN_IF_ERROR(CheckNic(nic));
  return nic;
}

void PutAddress(std::string* out, const VerbsAddress& a) {
  PutInt<uint32_t>(out, a.qpn);
  PutInt<uint32_t>(out, a.psn);
  PutInt<uint16_t>(out, a.lid);
  PutInt<uint8_t>(out, a.mtu);
  PutInt<uint8_t>(out, a.port);
  Put(out, a.gid.data(), a.gid.size());
}

StatusOr<VerbsAddress> GetAddress(const std::string& in, size_t* at) {
  VerbsAddress a;
  a.qpn = GetInt<uint32_t>(in, at);
  a.psn = GetInt<uint32_t>(in, at);
  a.lid = GetInt<uint16_t>(in, at);
  a.mtu = GetInt<uint8_t>(in, at);
  a.port = GetInt<uint8_t>(in, at);
  std::memcpy(a.gid.data(), in.data() + *at, a.gid.size());
  *at += a.gid.size();
  KVC_RETURN_IF_ERROR(CheckAddress(a));
  return a;
}

}  // namespace

StatusOr<std::string> EncodeVerbsRequest(const VerbsConnectRequest& r) {
  KVC_RETURN_IF_ERROR(CheckNic(r.initiator_nic));
  KVC_RETURN_IF_ERROR(CheckNic(r.target_nic));
  KVC_RETURN_IF_ERROR(CheckAddress(r.address));
  std::string out;
  PutHeader(&out);
  PutNic(&out, r.initiator_nic);
  PutNic(&out, r.target_nic);
  PutAddress(&out, r.address);
  return out;
}

StatusOr<VerbsConnectRequest> DecodeVerbsRequest(const std::string& in) {
  size_t at = 0;
  KVC_RETURN_IF_ERROR(GetHeader(in, kVerbsRequestBytes, &at));
  VerbsConnectRequest r;
  KVC_ASSIGN_OR_RETURN(r.initiator_nic, GetNic(in, &at));
  KVC_ASSIGN_OR_RETURN(r.target_nic, GetNic(in, &at));
  KVC_ASSIGN_OR_RETURN(r.address, GetAddress(in, &at));
  return r;
}

StatusOr<std::string> EncodeVerbsReply(const VerbsAddress& address) {
  KVC_RETURN_IF_ERROR(CheckAddress(address));
  std::string out;
  PutHeader(&out);
  PutAddress(&out, address);
  return out;
}

StatusOr<VerbsAddress> DecodeVerbsReply(const std::string& in) {
  size_t at = 0;
  KVC_RETURN_IF_ERROR(GetHeader(in, kVerbsReplyBytes, &at));
  return GetAddress(in, &at);
}

}  // namespace kvc::transfer::internal
