#include "absl/strings/str_cat.h"
#include "kvc/decode/decode_worker.h"

namespace kvc::decode {

void BindDecodeWorkerOptions(OptionSet& set, DecodeWorkerOptions* o) {
  set.Add("max_batch", &o->max_batch, "most requests decoding at once (continuous batch size)");
  set.Add("reservation_ttl_ms", &o->reservation_ttl_ms,
          "an unclaimed KV reservation is freed after this many milliseconds");
  set.Add("tokens_per_message", &o->tokens_per_message,
          "tokens per Decode stream message (1 = lowest latency)");
  set.Add("stream_write_timeout_ms", &o->stream_write_timeout_ms,
          "a Decode stream whose reader takes no message for this long is cancelled");
  set.Add("kv_quarantine_ms", &o->kv_quarantine_ms,
          "KV blocks of a reservation freed before Decode (expired, cancelled) return to the "
          "pool only after this many milliseconds: longer than the prefill nodes' "
          "prefill.transfer_timeout_ms, so a late KV write lands in no other request (0 = off)");
  set.Add("kv_quarantine_client_percent", &o->kv_quarantine_client_percent,
          "one client (API key or address) may hold at most this percentage of the node's KV "
          "blocks in quarantine; beyond it its new reservations are refused until they are "
          "released (100 = no bound)");
  set.Add("queued_keepalive_ms", &o->queued_keepalive_ms,
          "a request waiting for a batch slot gets an empty Decode message this often (below "
          "the conductor's stream_idle_timeout_ms)");
}

Status ValidateDecodeWorkerOptions(const DecodeWorkerOptions& o) {
  auto range = [](const char* field, uint32_t value, uint32_t lo, uint32_t hi) -> Status {
    if (value >= lo && value <= hi) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value, " is outside [", lo, ", ", hi, "]"));
  };
  KVC_RETURN_IF_ERROR(range("max_batch", o.max_batch, 1, 65536));
  KVC_RETURN_IF_ERROR(range("reservation_ttl_ms", o.reservation_ttl_ms, 1, 3'600'000));
  KVC_RETURN_IF_ERROR(range("tokens_per_message", o.tokens_per_message, 1, 4096));
  KVC_RETURN_IF_ERROR(range("stream_write_timeout_ms", o.stream_write_timeout_ms, 1, 3'600'000));
  KVC_RETURN_IF_ERROR(range("kv_quarantine_ms", o.kv_quarantine_ms, 0, 3'600'000));
  KVC_RETURN_IF_ERROR(
      range("kv_quarantine_client_percent", o.kv_quarantine_client_percent, 1, 100));
  return range("queued_keepalive_ms", o.queued_keepalive_ms, 1, 3'600'000);
}

}  // namespace kvc::decode
