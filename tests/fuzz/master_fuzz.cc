// Fuzz target: the store master's request handlers (store/master/master_service*.cc
// over MasterCore, store/master/master_core*.cc) through their C++ entry points:
// each input is a sequence of up to 64 RPCs whose protobuf requests are built
// from the input (FuzzedDataProvider picks the RPC and its fields from a small
// space of nodes and keys so that calls meet each other), with virtual time
// (FakeClock) advancing between them and Tick() running housekeeping. A request
// may also be parsed from raw bytes (any protobuf the wire could carry).
//
// Checked: no crash or sanitizer report; no handler answers INTERNAL or UNKNOWN
// (bad input is a client error); a granted put has replicas of the size asked
// for on distinct nodes; GetStats never shows more bytes than capacity; BatchGet
// and BatchExists answer one result per key.
#include <fuzzer/FuzzedDataProvider.h>

#include <set>
#include <string>

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "store/master/master_core.h"
#include "store/master/master_service.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace v1 = kvc::v1;

const char* const kNodes[] = {"node-a", "node-b", "node-c", "node-d", ""};

std::string Node(FuzzedDataProvider& in) { return kNodes[in.ConsumeIntegralInRange<size_t>(0, 4)]; }

void Key(FuzzedDataProvider& in, v1::BlockKey* key) {
  key->set_hi(in.ConsumeIntegralInRange<uint64_t>(0, 7));
  key->set_lo(in.ConsumeBool() ? 0 : in.ConsumeIntegral<uint64_t>());
}

v1::StorageTier Tier(FuzzedDataProvider& in) {
  return static_cast<v1::StorageTier>(in.ConsumeIntegralInRange<int>(0, 4));
}

uint64_t Size(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      return in.ConsumeIntegralInRange<uint64_t>(0, 8192);
    case 1:
      return uint64_t{1} << in.ConsumeIntegralInRange<int>(0, 63);
    case 2:
      return in.ConsumeIntegral<uint64_t>();
    default:
      return 4096;
  }
}

template <typename Message>
void Parse(FuzzedDataProvider& in, Message* m) {
  const std::string bytes = in.ConsumeRandomLengthString(256);
  if (!m->ParseFromString(bytes)) m->Clear();
}

void CheckStatus(const grpc::Status& s, const char* rpc) {
  KVC_FUZZ_CHECK(
      s.error_code() != grpc::StatusCode::INTERNAL && s.error_code() != grpc::StatusCode::UNKNOWN,
      std::string(rpc) + ": " + s.error_message());
}

void CheckPut(const v1::PutStartRequest& req, const v1::PutStartResponse& resp) {
  std::set<std::string> nodes;
  for (const auto& r : resp.replicas()) {
    KVC_FUZZ_CHECK(r.location().length() == req.size(), "replica length differs from the put size");
    KVC_FUZZ_CHECK(nodes.insert(r.node_id()).second, "two replicas on one node");
  }
  KVC_FUZZ_CHECK(!resp.replicas().empty(), "granted put without replicas");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  kvc::MasterPolicyOptions policy;
  policy.max_batch_keys = 64;
  policy.node_suspect_ms = in.ConsumeBool() ? 0 : 2000;
  policy.put_timeout_ms = 3000;
  policy.lease_ms = 1000;
  policy.max_object_bytes = 1 << 20;
  kvc::FakeClock clock;
  kvc::MetricsRegistry metrics;
  kvc::store::MasterCore core(policy, clock, metrics);
  kvc::store::MasterService service(core, metrics, policy.heartbeat_interval_ms);
  for (int op = 0; op < 64 && in.remaining_bytes() > 0; ++op) {
    switch (in.ConsumeIntegralInRange<int>(0, 19)) {
      case 0: {
        v1::MountSegmentRequest req;
        if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
          Parse(in, &req);
        } else {
          auto* s = req.mutable_segment();
          s->set_node_id(Node(in));
          s->set_hostname(in.ConsumeBool() ? "host-1" : "host-2");
          s->set_tier(Tier(in));
          s->set_capacity_bytes(in.ConsumeBool() ? 1 << 20 : Size(in));
          s->set_transfer_segment(s->node_id() + "-seg");
          s->set_rpc_address("127.0.0.1:1");
          s->set_base_address(in.ConsumeBool() ? 0x10000 : in.ConsumeIntegral<uint64_t>());
        }
        v1::MountSegmentResponse resp;
        CheckStatus(service.MountSegment(nullptr, &req, &resp), "MountSegment");
        break;
      }
      case 1: {
        v1::UnmountSegmentRequest req;
        req.set_node_id(Node(in));
        req.set_tier(Tier(in));
        v1::UnmountSegmentResponse resp;
        CheckStatus(service.UnmountSegment(nullptr, &req, &resp), "UnmountSegment");
        break;
      }
      case 2: {
        v1::StoreHeartbeatRequest req;
        req.set_node_id(Node(in));
        for (int i = in.ConsumeIntegralInRange<int>(0, 4); i > 0; --i) {
          auto* d = req.add_done();
          d->set_id(in.ConsumeIntegralInRange<uint64_t>(0, 32));
          d->set_ok(in.ConsumeBool());
        }
        v1::StoreHeartbeatResponse resp;
        CheckStatus(service.Heartbeat(nullptr, &req, &resp), "Heartbeat");
        break;
      }
      case 3: {
        v1::ReportReplicasRequest req;
        if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
          Parse(in, &req);
        } else {
          req.set_node_id(Node(in));
          req.set_tier(Tier(in));
          for (int i = in.ConsumeIntegralInRange<int>(0, 6); i > 0; --i) {
            auto* r = req.add_replicas();
            Key(in, r->mutable_key());
            r->set_size(Size(in));
            r->set_offset(in.ConsumeBool() ? in.ConsumeIntegralInRange<uint64_t>(0, 1 << 20)
                                           : in.ConsumeIntegral<uint64_t>());
          }
        }
        v1::ReportReplicasResponse resp;
        CheckStatus(service.ReportReplicas(nullptr, &req, &resp), "ReportReplicas");
        break;
      }
      case 4: {
        v1::PutStartRequest req;
        Key(in, req.mutable_key());
        req.set_size(Size(in));
        req.set_replicas(in.ConsumeIntegralInRange<uint32_t>(0, 10));
        req.set_preferred_node_id(Node(in));
        v1::PutStartResponse resp;
        const grpc::Status s = service.PutStart(nullptr, &req, &resp);
        CheckStatus(s, "PutStart");
        if (s.ok()) CheckPut(req, resp);
        break;
      }
      case 5: {
        v1::PutEndRequest req;
        Key(in, req.mutable_key());
        v1::PutEndResponse resp;
        CheckStatus(service.PutEnd(nullptr, &req, &resp), "PutEnd");
        break;
      }
      case 6: {
        v1::PutRevokeRequest req;
        Key(in, req.mutable_key());
        v1::PutRevokeResponse resp;
        CheckStatus(service.PutRevoke(nullptr, &req, &resp), "PutRevoke");
        break;
      }
      case 7: {
        v1::BatchPutStartRequest req;
        for (int i = in.ConsumeIntegralInRange<int>(0, 5); i > 0; --i) {
          auto* item = req.add_items();
          Key(in, item->mutable_key());
          item->set_size(Size(in));
          item->set_replicas(in.ConsumeIntegralInRange<uint32_t>(0, 3));
        }
        v1::BatchPutStartResponse resp;
        CheckStatus(service.BatchPutStart(nullptr, &req, &resp), "BatchPutStart");
        break;
      }
      case 8: {
        v1::BatchPutEndRequest req;
        for (int i = in.ConsumeIntegralInRange<int>(0, 5); i > 0; --i) {
          Key(in, in.ConsumeBool() ? req.add_commit() : req.add_revoke());
        }
        v1::BatchPutEndResponse resp;
        CheckStatus(service.BatchPutEnd(nullptr, &req, &resp), "BatchPutEnd");
        break;
      }
      case 9: {
        v1::GetRequest req;
        Key(in, req.mutable_key());
        req.set_reader_node_id(Node(in));
        v1::GetResponse resp;
        CheckStatus(service.Get(nullptr, &req, &resp), "Get");
        break;
      }
      case 10: {
        v1::BatchGetRequest req;
        const int n = in.ConsumeIntegralInRange<int>(0, 80);
        for (int i = 0; i < n; ++i) Key(in, req.add_keys());
        req.set_reader_node_id(Node(in));
        v1::BatchGetResponse resp;
        const grpc::Status s = service.BatchGet(nullptr, &req, &resp);
        CheckStatus(s, "BatchGet");
        if (s.ok()) KVC_FUZZ_CHECK(resp.results_size() == n, "BatchGet result count");
        break;
      }
      case 11: {
        v1::ExistsRequest req;
        Key(in, req.mutable_key());
        v1::ExistsResponse resp;
        CheckStatus(service.Exists(nullptr, &req, &resp), "Exists");
        break;
      }
      case 12: {
        v1::BatchExistsRequest req;
        const int n = in.ConsumeIntegralInRange<int>(0, 80);
        for (int i = 0; i < n; ++i) Key(in, req.add_keys());
        v1::BatchExistsResponse resp;
        const grpc::Status s = service.BatchExists(nullptr, &req, &resp);
        CheckStatus(s, "BatchExists");
        if (s.ok()) KVC_FUZZ_CHECK(resp.exists_size() == n, "BatchExists result count");
        break;
      }
      case 13: {
        v1::RemoveRequest req;
        Key(in, req.mutable_key());
        v1::RemoveResponse resp;
        CheckStatus(service.Remove(nullptr, &req, &resp), "Remove");
        break;
      }
      case 14: {
        v1::MatchPrefixRequest req;
        if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
          Parse(in, &req);
        } else {
          for (int i = in.ConsumeIntegralInRange<int>(0, 80); i > 0; --i) Key(in, req.add_keys());
        }
        v1::MatchPrefixResponse resp;
        CheckStatus(service.MatchPrefix(nullptr, &req, &resp), "MatchPrefix");
        break;
      }
      case 15: {
        v1::ChangeReplicaRequest req;
        Key(in, req.mutable_key());
        req.set_replicas(in.ConsumeIntegralInRange<uint32_t>(0, 10));
        v1::ChangeReplicaResponse resp;
        CheckStatus(service.ChangeReplica(nullptr, &req, &resp), "ChangeReplica");
        break;
      }
      case 16: {
        v1::GetStatsRequest req;
        v1::GetStatsResponse resp;
        const grpc::Status s = service.GetStats(nullptr, &req, &resp);
        CheckStatus(s, "GetStats");
        KVC_FUZZ_CHECK(resp.dram_bytes() <= resp.dram_capacity_bytes(), "DRAM over capacity");
        break;
      }
      case 17: {
        v1::StoreReportUnreachableRequest req;
        req.set_node_id(Node(in));
        req.set_reason("fuzz");
        v1::StoreReportUnreachableResponse resp;
        CheckStatus(service.ReportUnreachable(nullptr, &req, &resp), "ReportUnreachable");
        break;
      }
      case 18:
        clock.Advance(std::chrono::milliseconds(in.ConsumeIntegralInRange<int>(0, 8000)));
        (void)core.Tick();
        break;
      default:
        core.FenceAllocations(clock.Now() +
                              std::chrono::milliseconds(in.ConsumeIntegralInRange<int>(0, 2000)));
        break;
    }
  }
  return 0;
}
