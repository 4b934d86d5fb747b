// The Admin gRPC service of kvc-conductor (operators, through kvcctl), plus the
// conductor's counters and SLO store. Node registration is the NodeRegistry service
// of kvc/membership/registry_service.h. Thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "kvc/common/metrics.h"
#include "kvc/membership/node_registry.h"
#include "kvc/v1/admin.grpc.pb.h"

namespace kvc::conductor {

// The latency objectives in force; changed at run time with SetSLO. Thread-safe.
class SloStore {
 public:
  SloStore(double ttft_s, double tbt_s);
  kvc::v1::SLO Get() const;
  // InvalidArgument unless both are positive and finite; then nothing changes.
  [[nodiscard]] Status Set(const kvc::v1::SLO& slo);

 private:
  mutable std::mutex mu_;
  kvc::v1::SLO slo_;  // guarded by mu_
};

// Cluster-wide request counters, incremented by the serving path and reported by
// GetClusterStats and /metrics.
struct ConductorCounters {
  explicit ConductorCounters(MetricsRegistry& registry);
  Counter& requests;
  Counter& rejected;
  Counter& failed;
  Counter& prompt_tokens;
  Counter& cached_prompt_tokens;
  Counter& completion_tokens;
  Counter& computed_prompt_tokens;  // prompt tokens prefilled (not reused)
  Counter& fetched_prompt_tokens;   // of the cached ones, read from another node
  Counter& retries;                 // requests retried on another node before the first token
  Counter& decode_stalls;           // Decode streams ended: no token within stream_idle_timeout_ms
  Histogram& ttft;                  // seconds to the first token
  Histogram& inter_token;           // seconds between streamed tokens
  Histogram& e2e;                   // seconds from arrival to the last token
  Gauge& waiting;                   // requests before their first token (queued here or prefilling)
  Gauge& running;                   // requests streaming tokens
  // Rejections by reason (SLO_UNATTAINABLE, NO_KV_SPACE).
  Counter& Rejections(const std::string& reason);

 private:
  MetricsRegistry& registry_;
};

// Answers LookupPrefix (implemented by the generation pipeline).
class PrefixLookup {
 public:
  virtual ~PrefixLookup() = default;
  [[nodiscard]] virtual StatusOr<kvc::v1::LookupPrefixResponse> Lookup(
      const kvc::v1::LookupPrefixRequest& request) = 0;
};

class AdminServiceImpl final : public kvc::v1::Admin::Service {
 public:
  // All references are borrowed and must outlive the service.
  // `lookup` may be null: LookupPrefix then answers FAILED_PRECONDITION.
  // ListNodes, DrainNode and UndrainNode read and change `members` (the cluster's
  // membership: with a master, drains are shared by every conductor).
  AdminServiceImpl(membership::MembershipView& members, SloStore& slo, ConductorCounters& counters,
                   MetricsRegistry& metrics, std::string admin_token,
                   PrefixLookup* lookup = nullptr);

  grpc::Status ListNodes(grpc::ServerContext*, const kvc::v1::ListNodesRequest*,
                         kvc::v1::ListNodesResponse*) override;
  grpc::Status DrainNode(grpc::ServerContext*, const kvc::v1::DrainNodeRequest*,
                         kvc::v1::DrainNodeResponse*) override;
  grpc::Status UndrainNode(grpc::ServerContext*, const kvc::v1::DrainNodeRequest*,
                           kvc::v1::DrainNodeResponse*) override;
  grpc::Status GetClusterStats(grpc::ServerContext*, const kvc::v1::GetClusterStatsRequest*,
                               kvc::v1::ClusterStats*) override;
  grpc::Status GetSLO(grpc::ServerContext*, const kvc::v1::GetSLORequest*, kvc::v1::SLO*) override;
  grpc::Status SetSLO(grpc::ServerContext*, const kvc::v1::SetSLORequest*, kvc::v1::SLO*) override;
  grpc::Status LookupPrefix(grpc::ServerContext*, const kvc::v1::LookupPrefixRequest*,
                            kvc::v1::LookupPrefixResponse*) override;
  grpc::Status GetMetrics(grpc::ServerContext*, const kvc::v1::GetMetricsRequest*,
                          kvc::v1::GetMetricsResponse*) override;

 private:
  grpc::Status Drain(grpc::ServerContext* ctx, const kvc::v1::DrainNodeRequest* req,
                     kvc::v1::DrainNodeResponse* resp, bool drain);

  membership::MembershipView& members_;
  SloStore& slo_;
  ConductorCounters& counters_;
  MetricsRegistry& metrics_;
  const std::string admin_token_;
  PrefixLookup* const lookup_;
};

}  // namespace kvc::conductor
