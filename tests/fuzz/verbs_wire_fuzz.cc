// Fuzz target: the verbs QP handshake decoder (transfer/internal/verbs_wire.cc).
// Input byte 0 bit 0 picks the request or the reply decoder; the rest is the
// message. Checked: no crash or sanitizer report; a decoded message re-encodes
// (decoding accepts no field value the encoder refuses) to bytes that decode to
// the same message (the reserved bytes and the NIC names' padding after their
// NUL are ignored on decode, zero on encode); a refused one is INVALID_ARGUMENT.
#include <string>

#include "tests/fuzz/fuzz_util.h"
#include "transfer/internal/verbs_wire.h"

namespace internal = kvc::transfer::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    auto reply = internal::DecodeVerbsReply(bytes);
    if (!reply.ok()) {
      KVC_FUZZ_CHECK(reply.status().code() == absl::StatusCode::kInvalidArgument,
                     reply.status().ToString());
      return 0;
    }
    auto again = internal::EncodeVerbsReply(*reply);
    KVC_FUZZ_CHECK(again.ok(), "a decoded reply does not encode: " + again.status().ToString());
    auto twice = internal::DecodeVerbsReply(*again);
    KVC_FUZZ_CHECK(twice.ok() && *twice == *reply, "reply does not round-trip");
    return 0;
  }
  auto request = internal::DecodeVerbsRequest(bytes);
  if (!request.ok()) {
    KVC_FUZZ_CHECK(request.status().code() == absl::StatusCode::kInvalidArgument,
                   request.status().ToString());
    return 0;
  }
  auto again = internal::EncodeVerbsRequest(*request);
  KVC_FUZZ_CHECK(again.ok(), "a decoded request does not encode: " + again.status().ToString());
  auto twice = internal::DecodeVerbsRequest(*again);
  KVC_FUZZ_CHECK(twice.ok() && *twice == *request, "request changed on a second decode");
  return 0;
}
