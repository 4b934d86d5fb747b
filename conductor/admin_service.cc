#include "kvc/conductor/admin_service.h"

#include <cmath>

#include "kvc/common/logging.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/grpc_status.h"

namespace kvc::conductor {

SloStore::SloStore(double ttft_s, double tbt_s) {
  slo_.set_ttft_seconds(ttft_s);
  slo_.set_tbt_seconds(tbt_s);
}

kvc::v1::SLO SloStore::Get() const {
  std::lock_guard lock(mu_);
  return slo_;
}

Status SloStore::Set(const kvc::v1::SLO& slo) {
  for (double v : {slo.ttft_seconds(), slo.tbt_seconds()}) {
    if (!(v > 0) || !std::isfinite(v)) {
      return absl::InvalidArgumentError("SLO values must be positive, finite seconds");
    }
  }
  std::lock_guard lock(mu_);
  slo_ = slo;
  return Status();
}

ConductorCounters::ConductorCounters(MetricsRegistry& r)
    : requests(r.GetCounter("kvc_conductor_requests_total", "Generation requests received.")),
      rejected(r.GetCounter("kvc_conductor_rejected_requests_total",
                            "Requests rejected early (SLO unattainable or overload).")),
      failed(
          r.GetCounter("kvc_conductor_failed_requests_total", "Requests that ended in an error.")),
      prompt_tokens(r.GetCounter("kvc_conductor_prompt_tokens_total", "Prompt tokens received.")),
      cached_prompt_tokens(r.GetCounter("kvc_conductor_cached_prompt_tokens_total",
                                        "Prompt tokens whose KV was reused from the pool.")),
      completion_tokens(r.GetCounter("kvc_conductor_completion_tokens_total", "Tokens generated.")),
      computed_prompt_tokens(r.GetCounter("kvc_conductor_computed_prompt_tokens_total",
                                          "Prompt tokens computed by prefill (not reused).")),
      fetched_prompt_tokens(
          r.GetCounter("kvc_conductor_fetched_prompt_tokens_total",
                       "Reused prompt tokens whose KV was read from another node.")),
      retries(r.GetCounter("kvc_conductor_retries_total",
                           "Requests retried on another node after a node failed.")),
      decode_stalls(r.GetCounter(
          "kvc_conductor_decode_stalls_total",
          "Decode streams ended because no token came within stream_idle_timeout_ms.")),
      ttft(r.GetHistogram("kvc_conductor_ttft_seconds", "Time to first token.",
                          DefaultLatencyBuckets())),
      inter_token(r.GetHistogram("kvc_conductor_inter_token_seconds",
                                 "Time between consecutive streamed tokens.",
                                 ExponentialBuckets(0.0005, 2, 16))),
      e2e(r.GetHistogram("kvc_conductor_e2e_seconds", "Request arrival to last token.",
                         DefaultLatencyBuckets())),
      waiting(r.GetGauge("kvc_conductor_waiting_requests",
                         "Requests before their first token (being placed or prefilled).")),
      running(r.GetGauge("kvc_conductor_running_requests", "Requests streaming tokens.")),
      registry_(r) {}

Counter& ConductorCounters::Rejections(const std::string& reason) {
  return registry_.GetCounter("kvc_conductor_rejections_total", "Early rejections by reason.",
                              {{"reason", reason}});
}

AdminServiceImpl::AdminServiceImpl(membership::MembershipView& members, SloStore& slo,
                                   ConductorCounters& counters, MetricsRegistry& metrics,
                                   std::string admin_token, PrefixLookup* lookup)
    : members_(members),
      slo_(slo),
      counters_(counters),
      metrics_(metrics),
      admin_token_(std::move(admin_token)),
      lookup_(lookup) {}

#define KVC_REQUIRE_ADMIN(ctx)                                                       \
  do {                                                                               \
    if (Status auth = CheckBearerToken(*(ctx), admin_token_); !auth.ok()) {          \
      LogRefusedCall("admin", (ctx)->peer(), __func__, std::string(auth.message())); \
      return ToGrpcStatus(auth);                                                     \
    }                                                                                \
  } while (0)

grpc::Status AdminServiceImpl::ListNodes(grpc::ServerContext* ctx, const kvc::v1::ListNodesRequest*,
                                         kvc::v1::ListNodesResponse* resp) {
  KVC_REQUIRE_ADMIN(ctx);
  for (auto& n : members_.List()) *resp->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::Drain(grpc::ServerContext* ctx, const kvc::v1::DrainNodeRequest* req,
                                     kvc::v1::DrainNodeResponse* resp, bool drain) {
  KVC_REQUIRE_ADMIN(ctx);
  auto info = members_.SetDraining(req->node_id(), drain);
  if (!info.ok()) return ToGrpcStatus(info.status());
  Logger("admin")->info("{} node {}", drain ? "draining" : "undraining", req->node_id());
  *resp->mutable_node() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DrainNode(grpc::ServerContext* ctx,
                                         const kvc::v1::DrainNodeRequest* req,
                                         kvc::v1::DrainNodeResponse* resp) {
  return Drain(ctx, req, resp, true);
}

grpc::Status AdminServiceImpl::UndrainNode(grpc::ServerContext* ctx,
                                           const kvc::v1::DrainNodeRequest* req,
                                           kvc::v1::DrainNodeResponse* resp) {
  return Drain(ctx, req, resp, false);
}

grpc::Status AdminServiceImpl::GetClusterStats(grpc::ServerContext* ctx,
                                               const kvc::v1::GetClusterStatsRequest*,
                                               kvc::v1::ClusterStats* s) {
  KVC_REQUIRE_ADMIN(ctx);
  s->set_requests_total(static_cast<uint64_t>(counters_.requests.Value()));
  s->set_requests_rejected(static_cast<uint64_t>(counters_.rejected.Value()));
  s->set_requests_failed(static_cast<uint64_t>(counters_.failed.Value()));
  const double prompt = counters_.prompt_tokens.Value();
  const double cached = counters_.cached_prompt_tokens.Value();
  s->set_prompt_tokens_total(static_cast<uint64_t>(prompt));
  s->set_cached_prompt_tokens_total(static_cast<uint64_t>(cached));
  s->set_completion_tokens_total(static_cast<uint64_t>(counters_.completion_tokens.Value()));
  s->set_cache_hit_rate(prompt > 0 ? cached / prompt : 0.0);
  for (auto& n : members_.List()) *s->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetSLO(grpc::ServerContext* ctx, const kvc::v1::GetSLORequest*,
                                      kvc::v1::SLO* resp) {
  KVC_REQUIRE_ADMIN(ctx);
  *resp = slo_.Get();
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SetSLO(grpc::ServerContext* ctx, const kvc::v1::SetSLORequest* req,
                                      kvc::v1::SLO* resp) {
  KVC_REQUIRE_ADMIN(ctx);
  if (Status s = slo_.Set(req->slo()); !s.ok()) return ToGrpcStatus(s);
  Logger("admin")->info("SLO set to TTFT {} s, TBT {} s", req->slo().ttft_seconds(),
                        req->slo().tbt_seconds());
  *resp = slo_.Get();
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::LookupPrefix(grpc::ServerContext* ctx,
                                            const kvc::v1::LookupPrefixRequest* req,
                                            kvc::v1::LookupPrefixResponse* resp) {
  KVC_REQUIRE_ADMIN(ctx);
  if (lookup_ == nullptr) {
    return ToGrpcStatus(
        WithReason(absl::FailedPreconditionError("this conductor has no prefix lookup configured"),
                   Reason::kNoMaster));
  }
  auto r = lookup_->Lookup(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetMetrics(grpc::ServerContext* ctx,
                                          const kvc::v1::GetMetricsRequest*,
                                          kvc::v1::GetMetricsResponse* resp) {
  KVC_REQUIRE_ADMIN(ctx);
  resp->set_prometheus_text(metrics_.RenderPrometheus());
  return grpc::Status::OK;
}

#undef KVC_REQUIRE_ADMIN

}  // namespace kvc::conductor
