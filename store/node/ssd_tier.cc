#include "store/node/ssd_tier.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"

namespace kvc::store {
namespace {

std::string Encode(const BlockKey& key) {
  std::string out(16, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(key.hi >> (56 - 8 * i));
    out[8 + i] = static_cast<char>(key.lo >> (56 - 8 * i));
  }
  return out;
}

BlockKey Decode(const rocksdb::Slice& s) {
  BlockKey key;
  for (int i = 0; i < 8; ++i) {
    key.hi = (key.hi << 8) | static_cast<uint8_t>(s[i]);
    key.lo = (key.lo << 8) | static_cast<uint8_t>(s[8 + i]);
  }
  return key;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status();
  if (s.IsNotFound())
    return WithReason(absl::NotFoundError(what + ": not on SSD"), Reason::kNotFound);
  return absl::InternalError(absl::StrCat(what, ": RocksDB: ", s.ToString()));
}

}  // namespace

SsdTier::SsdTier(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}
SsdTier::~SsdTier() = default;

StatusOr<std::unique_ptr<SsdTier>> SsdTier::Open(const std::string& path, uint64_t min_blob_bytes) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.enable_blob_files = true;
  options.min_blob_size = min_blob_bytes;
  options.max_background_jobs = 2;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("ssd_path: cannot open RocksDB at '", path, "': ", s.ToString()));
  }
  return std::unique_ptr<SsdTier>(new SsdTier(std::unique_ptr<rocksdb::DB>(raw)));
}

Status SsdTier::Put(const BlockKey& key, const void* data, uint64_t size) {
  rocksdb::WriteOptions wo;
  return FromRocks(db_->Put(wo, Encode(key), rocksdb::Slice(static_cast<const char*>(data), size)),
                   "SSD put of " + key.ToHex());
}

StatusOr<uint64_t> SsdTier::Read(const BlockKey& key, void* out, uint64_t cap) const {
  rocksdb::PinnableSlice value;
  KVC_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), Encode(key), &value),
                "SSD read of " + key.ToHex()));
  if (value.size() > cap) {
    return absl::OutOfRangeError(absl::StrCat("SSD value of ", key.ToHex(), " has ", value.size(),
                                              " bytes, buffer holds ", cap));
  }
  std::memcpy(out, value.data(), value.size());
  return static_cast<uint64_t>(value.size());
}

StatusOr<uint64_t> SsdTier::SizeOf(const BlockKey& key) const {
  rocksdb::PinnableSlice value;
  KVC_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), Encode(key), &value),
                "SSD lookup of " + key.ToHex()));
  return static_cast<uint64_t>(value.size());
}

Status SsdTier::Delete(const BlockKey& key) {
  return FromRocks(db_->Delete(rocksdb::WriteOptions(), Encode(key)),
                   "SSD delete of " + key.ToHex());
}

Status SsdTier::ForEach(const std::function<void(const BlockKey&, uint64_t)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 16) continue;  // not ours
    fn(Decode(it->key()), it->value().size());
  }
  return FromRocks(it->status(), "SSD scan");
}

}  // namespace kvc::store
