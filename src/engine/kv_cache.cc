#include "kvc/engine/kv_cache.h"

#include <cassert>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"

namespace kvc::engine {
namespace {

// The default: calloc (zero pages are mapped lazily, so an unused arena costs nothing).
KvArenaAllocator HeapAllocator() {
  return {[](uint64_t bytes) -> StatusOr<void*> {
            void* p = std::calloc(1, bytes);
            if (p == nullptr) {
              return absl::ResourceExhaustedError(
                  absl::StrCat("cannot allocate a KV arena of ", bytes, " bytes"));
            }
            return p;
          },
          [](void* p) { std::free(p); }};
}

}  // namespace

KvCache::KvCache(const KvCacheGeometry& geometry, int64_t num_blocks, KvArenaAllocator allocator)
    : geometry_(geometry),
      num_blocks_(num_blocks),
      allocator_(allocator.allocate ? std::move(allocator) : HeapAllocator()),
      allocated_(static_cast<size_t>(num_blocks), false) {
  assert(geometry.block_bytes() > 0 && num_blocks > 0);
  const size_t bytes = geometry.block_bytes() * static_cast<size_t>(num_blocks);
  StatusOr<void*> arena = allocator_.allocate(bytes);
  if (!arena.ok() || *arena == nullptr) {
    status_ = arena.ok() ? absl::ResourceExhaustedError("the KV arena allocator returned null")
                         : arena.status();
    return;  // no free blocks: Allocate() refuses
  }
  arena_ = static_cast<uint8_t*>(*arena);
  arena_bytes_ = bytes;
  free_list_.reserve(static_cast<size_t>(num_blocks));
  for (int64_t i = num_blocks - 1; i >= 0; --i) free_list_.push_back(static_cast<BlockId>(i));
}

KvCache::~KvCache() {
  if (arena_ != nullptr && allocator_.free) allocator_.free(arena_);
}

int64_t KvCache::free_blocks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(free_list_.size());
}

StatusOr<BlockId> KvCache::Allocate() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_list_.empty()) {
    return WithReason(
        absl::ResourceExhaustedError("KV cache full: all " + std::to_string(num_blocks_) +
                                     " blocks are in use"),
        Reason::kKvCacheFull);
  }
  const BlockId id = free_list_.back();
  free_list_.pop_back();
  allocated_[static_cast<size_t>(id)] = true;
  return id;
}

void KvCache::Free(BlockId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id < 0 || id >= num_blocks_ || !allocated_[static_cast<size_t>(id)]) return;
  allocated_[static_cast<size_t>(id)] = false;
  free_list_.push_back(id);
}

std::span<uint8_t> KvCache::Block(BlockId id) {
  return {arena_ + geometry_.block_bytes() * static_cast<size_t>(id), geometry_.block_bytes()};
}

std::span<const uint8_t> KvCache::Block(BlockId id) const {
  return {arena_ + geometry_.block_bytes() * static_cast<size_t>(id), geometry_.block_bytes()};
}

std::span<uint8_t> KvCache::Layer(BlockId id, int64_t layer) {
  return Block(id).subspan(LayerOffset(layer), geometry_.layer_bytes());
}

float* KvCache::Keys(BlockId id, int64_t layer) {
  return reinterpret_cast<float*>(Layer(id, layer).data());
}

float* KvCache::Values(BlockId id, int64_t layer) {
  assert(geometry_.element_bytes == 4);
  return Keys(id, layer) + geometry_.block_tokens * geometry_.kv_heads * geometry_.head_dim;
}

Status KvCache::CheckAllocated(BlockId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (id < 0 || id >= num_blocks_ || !allocated_[static_cast<size_t>(id)]) {
    return absl::InvalidArgumentError("KV block " + std::to_string(id) + " is not allocated");
  }
  return absl::OkStatus();
}

Status KvCache::ExportBlock(BlockId id, std::vector<uint8_t>* out) const {
  KVC_RETURN_IF_ERROR(CheckAllocated(id));
  auto block = Block(id);
  out->assign(block.begin(), block.end());
  return absl::OkStatus();
}

Status KvCache::ImportBlock(BlockId id, std::span<const uint8_t> bytes) {
  KVC_RETURN_IF_ERROR(CheckAllocated(id));
  if (bytes.size() != geometry_.block_bytes()) {
    return absl::InvalidArgumentError("KV block import of " + std::to_string(bytes.size()) +
                                      " bytes, expected " +
                                      std::to_string(geometry_.block_bytes()));
  }
  std::memcpy(Block(id).data(), bytes.data(), bytes.size());
  return absl::OkStatus();
}

Status KvCache::ImportLayer(BlockId id, int64_t layer, std::span<const uint8_t> bytes) {
  KVC_RETURN_IF_ERROR(CheckAllocated(id));
  if (layer < 0 || layer >= geometry_.num_layers) {
    return absl::InvalidArgumentError("layer " + std::to_string(layer) + " out of range [0, " +
                                      std::to_string(geometry_.num_layers) + ")");
  }
  if (bytes.size() != geometry_.layer_bytes()) {
    return absl::InvalidArgumentError("KV layer import of " + std::to_string(bytes.size()) +
                                      " bytes, expected " +
                                      std::to_string(geometry_.layer_bytes()));
  }
  std::memcpy(Layer(id, layer).data(), bytes.data(), bytes.size());
  return absl::OkStatus();
}

}  // namespace kvc::engine
