// The intra-host export protocol (docs/transfer.md, "Shared-mapping path"): the
// messages a peer and a target exchange over the target's abstract Unix socket
// (SOCK_SEQPACKET: one message per send), and the control block both map to
// agree on accesses to an exported region. Plain structs copied as bytes.
#pragma once

#include <atomic>
#include <cstdint>

namespace kvc::transfer::internal {

inline constexpr uint32_t kShmMagic = 0x5343564B;  // "KVCS"
inline constexpr uint16_t kShmVersion = 1;
inline constexpr uint16_t kShmMaxTokenBytes = 1024;

// Peer → target, followed (same message) by token_length bytes of cluster token.
struct ShmHello {
  uint32_t magic = kShmMagic;
  uint16_t version = kShmVersion;
  uint16_t token_length = 0;
};
// Target → peer: code 0 accepted, else an absl::StatusCode (16 = wrong token).
struct ShmHelloReply {
  uint32_t magic = kShmMagic;
  uint32_t code = 0;
};

// Peer → target: "export the registered region holding [address, address+length)".
struct ShmExportRequest {
  uint32_t magic = kShmMagic;
  uint32_t reserved = 0;
  uint64_t address = 0;
  uint64_t length = 0;
};
// Target → peer. code 0: the message carries two fds (SCM_RIGHTS): the region's
// memfd (map `map_bytes` from offset 0; byte 0 is `region_address`) and the
// control block's memfd (map sizeof(ShmControl)). region_length is what the peer
// may touch. code 5 (NOT_FOUND): the region exists but is not exportable (not
// allocated with AllocateSharedMemory); region_* name it so the peer can use
// cross-memory attach for it. Other codes: refused (OUT_OF_RANGE: no region).
struct ShmExportReply {
  uint32_t magic = kShmMagic;
  uint32_t code = 0;
  uint64_t region_address = 0;
  uint64_t region_length = 0;
  uint64_t map_bytes = 0;
  char message[224] = {};
};

// Shared by a target and one peer session for one exported region. The peer
// brackets every copy with active += 1 … active -= 1 and checks `state` after
// its increment (both seq_cst); the target sets state and then waits for
// active == 0, so once it has seen 0 no copy of that session is running or can
// start (Dekker-style; lock-free atomics work across processes).
struct ShmControl {
  enum : uint32_t { kOpen = 0, kClosing = 1, kGone = 2 };
  std::atomic<uint32_t> state{kOpen};
  uint32_t reserved = 0;
  std::atomic<uint64_t> active{0};
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
inline constexpr uint64_t kShmControlBytes = 4096;

}  // namespace kvc::transfer::internal
