// The TCP backend's wire format (docs/transfer.md, "TCP wire format"): a hello
// carrying the cluster token, then fixed-size little-endian request/response
// headers, each followed by its payload. Plain structs copied as bytes; this
// build only targets little-endian hosts (static_assert below).
#pragma once

#include <bit>
#include <cstdint>

namespace kvc::transfer::internal {

static_assert(std::endian::native == std::endian::little, "wire format is little-endian");

inline constexpr uint32_t kWireMagic = 0x5443564B;  // "KVCT"
inline constexpr uint16_t kWireVersion = 1;
inline constexpr uint16_t kMaxTokenBytes = 1024;
// The largest payload one request may carry; bigger frames close the connection.
inline constexpr uint64_t kMaxFrameBytes = uint64_t{1} << 30;

// Client → target, followed by token_length bytes of token.
struct HelloFrame {
  uint32_t magic = kWireMagic;
  uint16_t version = kWireVersion;
  uint16_t token_length = 0;
};
// Target → client. code: 0 accepted, else an absl::StatusCode (16 = bad token).
struct HelloReplyFrame {
  uint32_t magic = kWireMagic;
  uint32_t code = 0;
};

// kSetId and kFence get no response. kSetId (address = a random connection id)
// names the connection; kFence (address = the id of an abandoned connection of
// the same initiator) makes the target stop serving that connection and wait
// until the request it is in has ended before serving anything after the fence.
// kVerbsConnect carries a verbs QP handshake (verbs_wire.h, ≤ kMaxVerbsConnectBytes)
// as its payload; the response's payload is the target's answer.
enum class WireOp : uint8_t {
  kRead = 1,
  kWrite = 2,
  kGetSegment = 3,
  kSetId = 4,
  kFence = 5,
  kVerbsConnect = 6
};
inline constexpr uint64_t kMaxVerbsConnectBytes = 4096;

// Client → target. kWrite is followed by `length` payload bytes.
struct RequestFrame {
  uint8_t op = 0;  // WireOp
  uint8_t reserved[7] = {};
  uint64_t sequence = 0;  // echoed in the response
  uint64_t address = 0;   // remote address (kRead / kWrite)
  uint64_t length = 0;    // bytes to read or write
};

// Target → client, followed by `message_length` bytes of error text, then
// `length` payload bytes (kRead data, or the kGetSegment JSON) when code == 0.
struct ResponseFrame {
  uint64_t sequence = 0;
  uint32_t code = 0;  // absl::StatusCode; 0 = OK
  uint32_t message_length = 0;
  uint64_t length = 0;
};

static_assert(sizeof(HelloFrame) == 8 && sizeof(HelloReplyFrame) == 8);
static_assert(sizeof(RequestFrame) == 32 && sizeof(ResponseFrame) == 24);

}  // namespace kvc::transfer::internal
