// A paged KV cache: a fixed pool of equally sized blocks, each holding the K and V
// of `block_tokens` consecutive tokens of one request for every layer. The in-memory
// layout of a block IS its export layout (docs/kv-layout.md):
//
//   block = layer 0 | layer 1 | ... | layer L-1          (layer_bytes each)
//   layer = K[block_tokens][kv_heads][head_dim] | V[block_tokens][kv_heads][head_dim]
//
// so exporting a block is one memcpy, and a remote writer fills layer l of every
// block of a request by writing [LayerOffset(l), LayerOffset(l) + layer_bytes) of each.
//
// The arena (all blocks, one contiguous region) comes from a KvArenaAllocator: the
// heap by default; a worker passes its transfer engine's shared-memory allocation so
// same-host peers can map the arena and write blocks with memcpy.
//
// Thread-safety: Allocate/Free/free_blocks are thread-safe; block contents are not
// synchronised (a block belongs to one request at a time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::engine {

using BlockId = int32_t;

struct KvCacheGeometry {
  int64_t num_layers = 1;
  int64_t block_tokens = 16;              // tokens per block: 16 for kvc-tiny, 512 for traces
  int64_t bytes_per_token_per_layer = 0;  // K and V of one token in one layer
  int64_t kv_heads = 0;  // for the element accessors; 0 when the cache is opaque bytes
  int64_t head_dim = 0;
  int64_t element_bytes = 4;  // 4 = f32 (CPU), 2 = bf16 (CUDA staging); see docs/kv-layout.md

  size_t layer_bytes() const {
    return static_cast<size_t>(block_tokens * bytes_per_token_per_layer);
  }
  size_t block_bytes() const { return layer_bytes() * static_cast<size_t>(num_layers); }
};

// Where a KvCache's arena comes from. `allocate(bytes)` returns zero-filled memory of
// at least `bytes` bytes, or an error; `free(ptr)` gives back what it returned. Both
// unset = the heap. The allocator (and what its functions capture, e.g. a transfer
// engine) must outlive the cache.
struct KvArenaAllocator {
  std::function<StatusOr<void*>(uint64_t bytes)> allocate;
  std::function<void(void* ptr)> free;
};

class KvCache {
 public:
  // Reserves `num_blocks` blocks up front (zero-filled) from `allocator`. When the
  // allocation fails, status() says why and the cache has no free block (the
  // engine factories check status()). REQUIRES: geometry sizes > 0.
  KvCache(const KvCacheGeometry& geometry, int64_t num_blocks, KvArenaAllocator allocator = {});
  ~KvCache();  // returns the arena to the allocator
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // OK, or why the arena could not be allocated.
  const Status& status() const { return status_; }

  const KvCacheGeometry& geometry() const { return geometry_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t free_blocks() const;

  // A free block, or RESOURCE_EXHAUSTED when none is left.
  [[nodiscard]] StatusOr<BlockId> Allocate();
  // Returns `id` to the pool. Freeing a block twice or an unknown id is a no-op.
  void Free(BlockId id);

  // The whole block pool, block `id` at offset id * block_bytes(): the one region
  // a worker registers with the transfer engine so peers read and write blocks in place.
  std::span<uint8_t> Arena() { return {arena_, arena_bytes_}; }
  // Offset of block `id` inside Arena().
  size_t BlockOffset(BlockId id) const { return geometry_.block_bytes() * static_cast<size_t>(id); }

  // The block's bytes, in the export layout. REQUIRES: id valid.
  std::span<uint8_t> Block(BlockId id);
  std::span<const uint8_t> Block(BlockId id) const;
  // Layer `layer` of block `id` (K then V). REQUIRES: id and layer valid.
  std::span<uint8_t> Layer(BlockId id, int64_t layer);
  // f32 K or V rows of one layer: [block_tokens][kv_heads][head_dim].
  // REQUIRES: element_bytes == 4.
  float* Keys(BlockId id, int64_t layer);
  float* Values(BlockId id, int64_t layer);
  size_t LayerOffset(int64_t layer) const {
    return geometry_.layer_bytes() * static_cast<size_t>(layer);
  }

  // Copies a block out in the export layout.
  [[nodiscard]] Status ExportBlock(BlockId id, std::vector<uint8_t>* out) const;
  // Overwrites a block from exported bytes; INVALID_ARGUMENT (nothing written) when
  // the size differs from block_bytes() or the id is not allocated.
  [[nodiscard]] Status ImportBlock(BlockId id, std::span<const uint8_t> bytes);
  // Overwrites one layer of a block (a remote writer streaming layer by layer).
  [[nodiscard]] Status ImportLayer(BlockId id, int64_t layer, std::span<const uint8_t> bytes);

 private:
  Status CheckAllocated(BlockId id) const;

  const KvCacheGeometry geometry_;
  const int64_t num_blocks_;
  KvArenaAllocator allocator_;
  Status status_;
  uint8_t* arena_ = nullptr;  // arena_bytes_ bytes from allocator_ (null when it failed)
  size_t arena_bytes_ = 0;

  mutable std::mutex mu_;
  std::vector<BlockId> free_list_;  // guarded by mu_
  std::vector<bool> allocated_;     // guarded by mu_
};

}  // namespace kvc::engine
