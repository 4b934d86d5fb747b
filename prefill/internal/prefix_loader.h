// Loads a request's reusable prefix blocks from the KV pool straight into freshly
// allocated blocks of the engine's cache (one StoreClient::BatchGet: one master
// round trip, the reads in one transfer batch). Runs on the engine thread.
#pragma once

#include <cstdint>
#include <string>

#include "kvc/engine/engine.h"
#include "kvc/store/store_client.h"
#include "kvc/v1/prefill.pb.h"

namespace kvc::prefill::internal {

struct PrefixLoad {
  int64_t cached_blocks = 0;   // leading blocks that arrived whole (the cached prefix)
  int64_t fetched_blocks = 0;  // of those, held by another node than this one
};

// Allocates one block per prefix_blocks entry, appends them to seq.blocks (which
// must be empty) and reads the pool values into them. Blocks after the first one
// that did not arrive stay in seq.blocks (the engine overwrites them). A block
// counts as fetched when its holder_node_id differs from `node_id` (or `node_id`
// is empty). With a null store or no prefix, loads nothing. Fails only when the
// cache has no room (then seq.blocks stays empty).
[[nodiscard]] StatusOr<PrefixLoad> LoadPrefix(engine::Engine& engine, store::StoreClient* store,
                                              const v1::PrefillRequest& request,
                                              const std::string& node_id, engine::Sequence& seq);

}  // namespace kvc::prefill::internal
