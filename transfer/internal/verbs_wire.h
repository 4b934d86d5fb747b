// The verbs handshake (docs/transfer.md, "Verbs backend"): an RC queue pair needs
// the peer QP's number, PSN, LID, GID and MTU. The initiator creates its QP, sends
// a VERBS_CONNECT request (op 6 of the TCP wire format, so it travels on a
// connection whose hello already carried the cluster token) naming its NIC, the
// target NIC and its QP address; the target creates and connects a QP on that NIC
// and answers with its own address. Fixed-size little-endian messages; decoding
// checks every field and never trusts a length. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "kvc/common/status.h"
#include "transfer/internal/verbs_device.h"

namespace kvc::transfer::internal {

inline constexpr uint32_t kVerbsMagic = 0x5143564B;  // "KVCQ"
inline constexpr uint16_t kVerbsVersion = 1;
inline constexpr size_t kVerbsNicNameBytes = 64;  // NUL-padded, at least one NUL
inline constexpr size_t kVerbsAddressBytes = 28;
inline constexpr size_t kVerbsRequestBytes = 8 + 2 * kVerbsNicNameBytes + kVerbsAddressBytes;
inline constexpr size_t kVerbsReplyBytes = 8 + kVerbsAddressBytes;

struct VerbsConnectRequest {
  std::string initiator_nic;  // informational (logs)
  std::string target_nic;     // where the target creates its QP
  VerbsAddress address;       // the initiator's QP
  bool operator==(const VerbsConnectRequest&) const = default;
};

// INVALID_ARGUMENT for an empty or too long NIC name (≥ 64 bytes) or an address
// out of range (qpn/psn beyond 24 bits, mtu outside 1..5).
[[nodiscard]] StatusOr<std::string> EncodeVerbsRequest(const VerbsConnectRequest& request);
[[nodiscard]] StatusOr<VerbsConnectRequest> DecodeVerbsRequest(const std::string& bytes);
[[nodiscard]] StatusOr<std::string> EncodeVerbsReply(const VerbsAddress& address);
[[nodiscard]] StatusOr<VerbsAddress> DecodeVerbsReply(const std::string& bytes);

}  // namespace kvc::transfer::internal
