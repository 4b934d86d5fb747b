#include "prefill/internal/prefix_loader.h"

#include <vector>

namespace kvc::prefill::internal {

StatusOr<PrefixLoad> LoadPrefix(engine::Engine& engine, store::StoreClient* store,
                                const v1::PrefillRequest& request, const std::string& node_id,
                                engine::Sequence& seq) {
  PrefixLoad load;
  const int k = request.prefix_blocks_size();
  if (store == nullptr || k == 0) return load;
  engine::KvCache& cache = engine.cache();
  const int64_t bt = cache.geometry().block_tokens;
  KVC_RETURN_IF_ERROR(engine.EnsureBlocks(seq, static_cast<int64_t>(k) * bt));
  std::vector<store::GetItem> items(static_cast<size_t>(k));
  for (int i = 0; i < k; ++i) {
    const auto& key = request.prefix_blocks(i).key();
    std::span<uint8_t> block = cache.Block(seq.blocks[static_cast<size_t>(i)]);
    items[static_cast<size_t>(i)] = {BlockKey{key.hi(), key.lo()}, block.data(), block.size()};
  }
  const std::vector<StatusOr<uint64_t>> got = store->BatchGet(items);
  const uint64_t block_bytes = cache.geometry().block_bytes();
  for (int i = 0; i < k; ++i) {
    const auto& r = got[static_cast<size_t>(i)];
    if (!r.ok() || *r != block_bytes) break;
    Status staged = engine.StageBlockToDevice(seq.blocks[static_cast<size_t>(i)]);
    if (!staged.ok()) break;
    ++load.cached_blocks;
    const std::string& holder = request.prefix_blocks(i).holder_node_id();
    if (node_id.empty() || holder != node_id) ++load.fetched_blocks;
  }
  return load;
}

}  // namespace kvc::prefill::internal
