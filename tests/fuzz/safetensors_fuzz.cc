// Fuzz target: the safetensors reader (src/engine/safetensors_reader.cc). The input
// is a whole .safetensors file: written to a memfd and opened by its /proc path,
// so the real mapping code runs. Checked: no crash or sanitizer report; an opened
// file's tensors lie inside the file, their byte counts match shape × dtype size,
// and every tensor loads as f32 with the number of elements its shape says.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "kvc/engine/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
  KVC_FUZZ_CHECK(fd >= 0, "memfd_create");
  KVC_FUZZ_CHECK(write(fd, data, size) == static_cast<ssize_t>(size), "write");
  auto model = kvc::engine::SafetensorsModel::OpenFile("/proc/self/fd/" + std::to_string(fd));
  close(fd);  // the reader keeps its own mapping
  if (!model.ok()) return 0;
  for (const auto& [name, t] : (*model)->tensors()) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      KVC_FUZZ_CHECK(d >= 0, name + ": negative dimension");
      numel *= static_cast<uint64_t>(d);
    }
    KVC_FUZZ_CHECK(t.num_bytes == numel * kvc::engine::DTypeSize(t.dtype),
                   name + ": byte count does not match the shape");
    KVC_FUZZ_CHECK(t.num_bytes <= size, name + ": larger than the file");
    auto values = (*model)->LoadF32(name, t.shape);
    KVC_FUZZ_CHECK(values.ok(), name + ": " + values.status().ToString());
    KVC_FUZZ_CHECK(values->size() == numel, name + ": wrong element count");
  }
  return 0;
}
