// Fuzz target: the TCP transfer wire (transfer/tcp_target.cc behind
// internal/tcp_acceptor.cc: the hello with the cluster token, then READ / WRITE /
// GET_SEGMENT / SET_ID / FENCE / VERBS_CONNECT frames, docs/transfer.md). The
// target's frame decoding is its connection loop, so this runs a real TcpTarget
// on loopback and sends the input as one connection's bytes, half-closed, then
// reads until the target closes. Input byte 0, bit 0: prepend a valid hello
// (else the input is the hello); the rest is the stream. Two regions are
// registered at fixed addresses (seeds name them): a remote-accessible 64 KiB
// one at kRemoteBase and a local-only one at kLocalBase. VERBS_CONNECT payloads
// go through the verbs handshake decoder (internal/verbs_wire.h).
//
// Checked: no crash or sanitizer report; the target closes within the deadline
// (no hang); what it sends is a hello reply followed by whole, well-formed
// response frames (message ≤ 4096 bytes, payloads only on success, READ payloads
// inside the remote region); memory outside the remote region never changes.
#include <sys/mman.h>

#include <cstring>
#include <memory>
#include <string>

#include "tests/fuzz/fuzz_util.h"
#include "transfer/internal/region_table.h"
#include "transfer/internal/verbs_wire.h"
#include "transfer/internal/wire.h"
#include "transfer/tcp_target.h"

namespace {

namespace internal = kvc::transfer::internal;

constexpr uint64_t kRemoteBase = 0x700000000000;  // seeds use these addresses (not ASan's heap)
constexpr uint64_t kLocalBase = 0x700000100000;
constexpr uint64_t kRegionBytes = 64 * 1024;
constexpr char kToken[] = "fuzz-cluster-token";
constexpr char kDescriptor[] = "{\"name\":\"fuzz\",\"regions\":[]}";

void* MapAt(uint64_t address) {
  void* p = mmap(reinterpret_cast<void*>(address), kRegionBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != reinterpret_cast<void*>(address)) kvc::fuzz::Fail("cannot map a region at its address");
  return p;
}

struct Fixture {
  internal::RegionTable regions;
  std::unique_ptr<kvc::transfer::TcpTarget> target;
  uint16_t port = 0;
  unsigned char* local = nullptr;
  Fixture() {
    MapAt(kRemoteBase);
    local = static_cast<unsigned char*>(MapAt(kLocalBase));
    std::memset(local, 0x5A, kRegionBytes);
    if (!regions.Add(kRemoteBase, kRegionBytes, "cpu:0", /*remote_accessible=*/true).ok() ||
        !regions.Add(kLocalBase, kRegionBytes, "cpu:0", /*remote_accessible=*/false).ok()) {
      kvc::fuzz::Fail("cannot register the regions");
    }
    kvc::transfer::TcpTarget::Options options;
    options.cluster_token = kToken;
    options.timeout = std::chrono::milliseconds(2000);
    options.max_connections_per_peer = 1024;
    options.verbs_connect = [](uint64_t, const std::string& request) -> kvc::StatusOr<std::string> {
      KVC_ASSIGN_OR_RETURN(internal::VerbsConnectRequest r, internal::DecodeVerbsRequest(request));
      return internal::EncodeVerbsReply(r.address);
    };
    options.verbs_disconnect = [](uint64_t) {};
    auto started = kvc::transfer::TcpTarget::Start(options, &regions, [] { return kDescriptor; });
    if (!started.ok()) kvc::fuzz::Fail(started.status().ToString());
    target = std::move(*started);
    port =
        static_cast<uint16_t>(std::stoi(target->address().substr(target->address().find(':') + 1)));
  }
};

Fixture& F() {
  static Fixture* f = new Fixture();  // lives for the whole run
  return *f;
}

// The target's answer: a hello reply, then whole response frames.
void CheckOutput(const std::string& out) {
  if (out.empty()) return;  // refused before a reply (bad hello), or nothing sent
  KVC_FUZZ_CHECK(out.size() >= sizeof(internal::HelloReplyFrame), "short hello reply");
  internal::HelloReplyFrame hello;
  std::memcpy(&hello, out.data(), sizeof(hello));
  KVC_FUZZ_CHECK(hello.magic == internal::kWireMagic, "hello reply magic");
  size_t at = sizeof(hello);
  if (hello.code != 0) {
    KVC_FUZZ_CHECK(at == out.size(), "bytes after a refused hello");
    return;
  }
  while (at < out.size()) {
    internal::ResponseFrame frame;
    KVC_FUZZ_CHECK(out.size() - at >= sizeof(frame), "truncated response frame");
    std::memcpy(&frame, out.data() + at, sizeof(frame));
    at += sizeof(frame);
    KVC_FUZZ_CHECK(frame.message_length <= 4096, "oversized error message");
    KVC_FUZZ_CHECK(frame.code == 0 || frame.length == 0, "payload on an error reply");
    KVC_FUZZ_CHECK(frame.length <= kRegionBytes + 4096, "payload larger than any region");
    KVC_FUZZ_CHECK(out.size() - at >= frame.message_length + frame.length, "truncated payload");
    at += frame.message_length + frame.length;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Fixture& f = F();
  std::string input;
  if (data[0] & 1) {
    internal::HelloFrame hello;
    hello.token_length = sizeof(kToken) - 1;
    input.append(reinterpret_cast<const char*>(&hello), sizeof(hello));
    input.append(kToken, sizeof(kToken) - 1);
  }
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);
  const int fd = kvc::fuzz::ConnectLoopback(f.port);
  KVC_FUZZ_CHECK(fd >= 0, "cannot connect to the target");
  std::string output;
  const bool closed = kvc::fuzz::Exchange(fd, input, &output);
  close(fd);
  KVC_FUZZ_CHECK(closed, "the target neither closed nor answered in time");
  CheckOutput(output);
  for (uint64_t i = 0; i < kRegionBytes; ++i) {
    KVC_FUZZ_CHECK(f.local[i] == 0x5A, "a local-only region was written");
  }
  return 0;
}
