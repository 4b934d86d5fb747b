// SsdTier: the SSD tier of one node, a RocksDB database (one per node) whose
// large values go to blob files (integrated BlobDB), so demoted blocks survive a
// restart of the node process. Keys are the 16 bytes of a BlockKey (hi then lo,
// big-endian, so iteration order is key order).
//
// Thread-safe (RocksDB is).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kvc/common/block_hash.h"
#include "kvc/common/status.h"

namespace rocksdb {
class DB;
}

namespace kvc::store {

class SsdTier {
 public:
  // Opens (creating when missing) the database in directory `path`.
  // Values of at least `min_blob_bytes` go to blob files.
  static StatusOr<std::unique_ptr<SsdTier>> Open(const std::string& path,
                                                 uint64_t min_blob_bytes = 4096);
  ~SsdTier();
  SsdTier(const SsdTier&) = delete;
  SsdTier& operator=(const SsdTier&) = delete;

  [[nodiscard]] Status Put(const BlockKey& key, const void* data, uint64_t size);
  // Copies the value into `out` (capacity `cap`); returns its size. NOT_FOUND when
  // absent, OUT_OF_RANGE when cap is too small (out is untouched).
  StatusOr<uint64_t> Read(const BlockKey& key, void* out, uint64_t cap) const;
  // Size of the value, NOT_FOUND when absent.
  StatusOr<uint64_t> SizeOf(const BlockKey& key) const;
  [[nodiscard]] Status Delete(const BlockKey& key);
  // Calls fn(key, size) for every stored value.
  [[nodiscard]] Status ForEach(const std::function<void(const BlockKey&, uint64_t)>& fn) const;

 private:
  explicit SsdTier(std::unique_ptr<rocksdb::DB> db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace kvc::store
