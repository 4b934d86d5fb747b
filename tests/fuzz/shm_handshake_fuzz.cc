// Fuzz target: the shared-mapping export handshake (transfer/shm_export.cc: the
// hello with the cluster token, then export requests, internal/shm_wire.h). The
// server reads whole SOCK_SEQPACKET messages from its connection loop, so this
// runs a real ShmExportServer on its abstract Unix socket and sends the input as
// up to 16 messages. Input: byte 0 bit 0 = send a valid hello first; then
// records of [length byte][that many bytes] (length 255 = the fixed-size export
// request built from the next 16 bytes: address offset and length relative to
// the exported region). One whole AllocateSharedMemory allocation is registered
// and exportable; a second region is registered but not exportable.
//
// Checked: no crash or sanitizer report; the server answers or closes within the
// deadline; each reply is a whole well-formed message; an export is granted only
// for a range inside the exportable region, with its own region's bounds and fds.
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "transfer/internal/region_table.h"
#include "transfer/internal/shared_memory.h"
#include "transfer/internal/shm_wire.h"
#include "transfer/internal/unix_socket.h"
#include "transfer/shm_export.h"

namespace {

namespace internal = kvc::transfer::internal;

constexpr char kToken[] = "fuzz-cluster-token";
constexpr uint64_t kRegionBytes = 64 * 1024;

struct Fixture {
  internal::RegionTable regions;
  internal::SharedMemoryPool memory;
  std::unique_ptr<kvc::transfer::ShmExportServer> server;
  uint64_t exportable = 0;  // start of the exportable region
  std::vector<char> plain = std::vector<char>(kRegionBytes);
  Fixture() {
    auto p = memory.Allocate(kRegionBytes);
    if (!p.ok()) kvc::fuzz::Fail(p.status().ToString());
    exportable = reinterpret_cast<uint64_t>(*p);
    if (!regions.Add(exportable, kRegionBytes, "cpu:0", true).ok() ||
        !regions.Add(reinterpret_cast<uint64_t>(plain.data()), kRegionBytes, "cpu:0", true).ok()) {
      kvc::fuzz::Fail("cannot register the regions");
    }
    auto s = kvc::transfer::ShmExportServer::Start({kToken, std::chrono::milliseconds(2000)},
                                                   &regions, &memory);
    if (!s.ok()) kvc::fuzz::Fail(s.status().ToString());
    server = std::move(*s);
  }
};

Fixture& F() {
  static Fixture* f = new Fixture();  // lives for the whole run
  return *f;
}

std::string Hello() {
  internal::ShmHello hello;
  hello.token_length = sizeof(kToken) - 1;
  std::string m(reinterpret_cast<const char*>(&hello), sizeof(hello));
  return m + kToken;
}

// Messages described by the input (see the file comment).
std::vector<std::string> Messages(const uint8_t* data, size_t size, uint64_t base) {
  std::vector<std::string> out;
  if (data[0] & 1) out.push_back(Hello());
  size_t at = 1;
  while (at < size && out.size() < 16) {
    const size_t n = data[at++];
    if (n == 255) {
      internal::ShmExportRequest r;
      uint32_t offset = 0, length = 0;
      if (size - at >= 8) {
        std::memcpy(&offset, data + at, 4);
        std::memcpy(&length, data + at + 4, 4);
        at += 8;
      }
      r.address = base + (offset & 0x8000'0000u ? -uint64_t{offset & 0x7fff'ffffu} : offset);
      r.length = length;
      out.emplace_back(reinterpret_cast<const char*>(&r), sizeof(r));
      continue;
    }
    const size_t take = std::min(n, size - at);
    out.emplace_back(reinterpret_cast<const char*>(data + at), take);
    at += take;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Fixture& f = F();
  auto fd = internal::ConnectUnix(f.server->socket_name(), std::chrono::milliseconds(5000));
  KVC_FUZZ_CHECK(fd.ok(), fd.status().ToString());
  bool authenticated = false, hello_answered = false;
  for (const std::string& m : Messages(data, size, f.exportable)) {
    if (!internal::SendMessage(*fd, m.data(), m.size()).ok()) break;  // the server closed
    char buffer[sizeof(internal::ShmExportReply) + 64];
    std::vector<int> fds;
    auto n = internal::ReceiveMessage(*fd, buffer, sizeof(buffer), &fds);
    KVC_FUZZ_CHECK(n.ok() || n.status().code() == absl::StatusCode::kUnavailable,
                   "no answer in time: " + n.status().ToString());
    if (!n.ok()) break;  // closed
    if (!hello_answered) {
      hello_answered = true;
      KVC_FUZZ_CHECK(*n == sizeof(internal::ShmHelloReply), "hello reply size");
      internal::ShmHelloReply reply;
      std::memcpy(&reply, buffer, sizeof(reply));
      KVC_FUZZ_CHECK(reply.magic == internal::kShmMagic, "hello reply magic");
      KVC_FUZZ_CHECK(fds.empty(), "fds with a hello reply");
      authenticated = reply.code == 0;
      if (!authenticated) break;
      continue;
    }
    KVC_FUZZ_CHECK(*n == sizeof(internal::ShmExportReply), "export reply size");
    internal::ShmExportReply reply;
    std::memcpy(&reply, buffer, sizeof(reply));
    internal::ShmExportRequest request;
    std::memcpy(&request, m.data(), std::min(m.size(), sizeof(request)));
    if (reply.code == 0) {
      KVC_FUZZ_CHECK(fds.size() == 2, "granted export without its two fds");
      KVC_FUZZ_CHECK(reply.region_address == f.exportable && reply.region_length == kRegionBytes,
                     "granted another region");
      KVC_FUZZ_CHECK(request.address >= f.exportable &&
                         request.address - f.exportable <= kRegionBytes &&
                         request.length <= kRegionBytes - (request.address - f.exportable),
                     "granted a range outside the region");
    } else {
      KVC_FUZZ_CHECK(fds.empty(), "fds with a refusal");
      KVC_FUZZ_CHECK(reply.message[sizeof(reply.message) - 1] == '\0', "unterminated message");
    }
    for (int x : fds) close(x);
  }
  close(*fd);
  return 0;
}
