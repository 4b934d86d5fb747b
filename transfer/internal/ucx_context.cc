#include "transfer/internal/ucx_context.h"

#include <poll.h>

#include "absl/strings/str_cat.h"

namespace kvc::transfer::internal {

std::string ToHex(const void* data, size_t length) {
  static const char kDigits[] = "0123456789abcdef";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out(2 * length, '0');
  for (size_t i = 0; i < length; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

std::string FromHex(const std::string& hex) {
  if (hex.size() % 2 != 0) return "";
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return "";
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

StatusOr<std::shared_ptr<UcxContext>> UcxContext::Create() {
  std::shared_ptr<UcxContext> ucx(new UcxContext());
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED;
  params.features = UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 1;
  ucs_status_t st = ucp_init(&params, nullptr, &ucx->context_);
  if (st != UCS_OK) {
    return absl::UnavailableError(absl::StrCat("UCX init failed: ", ucs_status_string(st)));
  }
  ucp_worker_params_t wp{};
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_MULTI;
  st = ucp_worker_create(ucx->context_, &wp, &ucx->worker_);
  if (st != UCS_OK) {
    return absl::UnavailableError(absl::StrCat("UCX worker: ", ucs_status_string(st)));
  }
  ucp_address_t* address = nullptr;
  size_t length = 0;
  st = ucp_worker_get_address(ucx->worker_, &address, &length);
  if (st != UCS_OK) {
    return absl::UnavailableError(absl::StrCat("UCX worker address: ", ucs_status_string(st)));
  }
  ucx->address_hex_ = ToHex(address, length);
  ucp_worker_release_address(ucx->worker_, address);
  st = ucp_worker_get_efd(ucx->worker_, &ucx->event_fd_);
  if (st != UCS_OK) {
    return absl::UnavailableError(absl::StrCat("UCX event fd: ", ucs_status_string(st)));
  }
  ucx->progress_ = std::thread([raw = ucx.get()] { raw->ProgressMain(); });
  return ucx;
}

UcxContext::~UcxContext() {
  stopping_ = true;
  if (worker_ != nullptr) ucp_worker_signal(worker_);
  if (progress_.joinable()) progress_.join();
  for (auto& [addr, entry] : mapped_) ucp_mem_unmap(context_, entry.first);
  if (worker_ != nullptr) ucp_worker_destroy(worker_);
  if (context_ != nullptr) ucp_cleanup(context_);
}

void UcxContext::ProgressMain() {
  while (!stopping_) {
    if (ucp_worker_progress(worker_) != 0) continue;
    const ucs_status_t st = ucp_worker_arm(worker_);
    if (st == UCS_ERR_BUSY) continue;
    pollfd p{event_fd_, POLLIN, 0};
    poll(&p, 1, 100);  // bounded: rechecks stopping_ even if a wakeup is missed
  }
}

StatusOr<std::string> UcxContext::Map(uint64_t addr, uint64_t length) {
  ucp_mem_map_params_t params{};
  params.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
  params.address = reinterpret_cast<void*>(addr);
  params.length = length;
  ucp_mem_h memh = nullptr;
  ucs_status_t st = ucp_mem_map(context_, &params, &memh);
  if (st != UCS_OK) {
    return absl::UnavailableError(
        absl::StrCat("UCX cannot register memory: ", ucs_status_string(st)));
  }
  void* packed = nullptr;
  size_t size = 0;
  st = ucp_rkey_pack(context_, memh, &packed, &size);
  if (st != UCS_OK) {
    ucp_mem_unmap(context_, memh);
    return absl::UnavailableError(absl::StrCat("UCX cannot pack an rkey: ", ucs_status_string(st)));
  }
  std::string hex = ToHex(packed, size);
  ucp_rkey_buffer_release(packed);
  std::lock_guard lock(mu_);
  mapped_[addr] = {memh, hex};
  return hex;
}

void UcxContext::Unmap(uint64_t addr) {
  std::lock_guard lock(mu_);
  auto it = mapped_.find(addr);
  if (it == mapped_.end()) return;
  ucp_mem_unmap(context_, it->second.first);
  mapped_.erase(it);
}

std::string UcxContext::RkeyOf(uint64_t addr) const {
  std::lock_guard lock(mu_);
  auto it = mapped_.find(addr);
  return it == mapped_.end() ? "" : it->second.second;
}

}  // namespace kvc::transfer::internal
