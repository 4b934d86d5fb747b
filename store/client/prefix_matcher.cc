#include "kvc/store/prefix_matcher.h"

#include "store/client/master_channel.h"

namespace kvc::store {
namespace {

class PrefixMatcherImpl final : public PrefixMatcher {
 public:
  PrefixMatcherImpl(const MasterClientOptions& options, std::unique_ptr<MasterLocator> locator)
      : options_(options), master_(std::move(locator)) {}

  StatusOr<StorePrefixMatch> MatchPrefix(std::span<const BlockKey> keys) override {
    return CallMatchPrefix(master_, options_, keys);
  }
  Status Refresh() { return master_.Refresh(); }

 private:
  const MasterClientOptions options_;
  MasterChannel master_;
};

}  // namespace

StatusOr<std::unique_ptr<PrefixMatcher>> CreatePrefixMatcher(const MasterClientOptions& options) {
  if (options.master_address.empty() && options.etcd_endpoints.empty()) {
    return absl::InvalidArgumentError("master_address: must not be empty");
  }
  KVC_ASSIGN_OR_RETURN(
      auto locator,
      MasterLocator::Create(options.master_address, options.etcd_endpoints, options.etcd_prefix));
  auto matcher = std::make_unique<PrefixMatcherImpl>(options, std::move(locator));
  (void)matcher->Refresh();  // in etcd mode a missing leader is looked up again later
  return std::unique_ptr<PrefixMatcher>(std::move(matcher));
}

}  // namespace kvc::store
