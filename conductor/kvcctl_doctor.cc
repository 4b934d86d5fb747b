#include "conductor/kvcctl_doctor.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kvc/common/clock.h"
#include "kvc/common/json.h"
#include "kvc/common/net_address.h"
#include "kvc/http/client.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/transfer/transfer_engine.h"
#include "kvc/v1/admin.grpc.pb.h"
#include "kvc/v1/node.grpc.pb.h"
#include "kvc/v1/store_master.grpc.pb.h"

namespace kvc::ctl {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

std::unique_ptr<grpc::ClientContext> Ctx(const DoctorOptions& o, const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + milliseconds(o.timeout_ms));
  if (!token.empty()) AddBearerToken(ctx.get(), token);
  return ctx;
}

int64_t MsSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start).count();
}

// grpc.health.v1 of `address` answers SERVING within the deadline.
DoctorCheck Reachable(const std::string& what, const std::string& address, const DoctorOptions& o) {
  const auto start = SteadyClock::now();
  StatusOr<std::string> health = CheckHealth(address, milliseconds(o.timeout_ms));
  if (!health.ok()) {
    return {what, false,
            absl::StrCat(address, " unreachable within ", o.timeout_ms,
                         " ms: ", health.status().message(), " (firewall? wrong address?)")};
  }
  return {what, *health == "SERVING",
          absl::StrCat(address, " answers ", *health, " in ", MsSince(start), " ms")};
}

// The cluster token against the master (GetStats), and the clock against its clock.
std::vector<DoctorCheck> CheckMaster(const DoctorOptions& o) {
  std::vector<DoctorCheck> out{Reachable("master", o.master_address, o)};
  if (!out[0].ok) return out;
  auto stub = v1::StoreMaster::NewStub(MakeChannel(o.master_address));
  v1::GetStatsResponse stats;
  const int64_t before = Clock::Real().UnixMillis();
  const Status s = FromGrpcStatus(stub->GetStats(Ctx(o, o.cluster_token).get(), {}, &stats));
  const int64_t after = Clock::Real().UnixMillis();
  if (s.code() == absl::StatusCode::kUnauthenticated) {
    out.push_back(
        {"master token", false,
         absl::StrCat("the master refuses the cluster token (", s.message(),
                      "): set the same --cluster-token / KVC_CLUSTER_TOKEN as the master")});
    return out;
  }
  if (!s.ok()) {
    out.push_back({"master token", false, absl::StrCat("GetStats failed: ", s.message())});
    return out;
  }
  out.push_back({"master token", true,
                 o.cluster_token.empty() ? "the master asks for no token (open)" : "accepted"});
  if (stats.server_unix_ms() == 0) {
    out.push_back({"clock", false, "the master does not report its clock (older kvc-master)"});
    return out;
  }
  const int64_t skew = stats.server_unix_ms() - (before + after) / 2;
  const int64_t uncertainty = (after - before) / 2;
  const bool ok = std::llabs(skew) <= static_cast<int64_t>(o.max_clock_skew_ms) + uncertainty;
  out.push_back({"clock", ok,
                 absl::StrCat("master clock ", skew >= 0 ? "+" : "", skew, " ms from ours (±",
                              uncertainty, " ms)",
                              ok ? ""
                                 : absl::StrCat("; over ", o.max_clock_skew_ms,
                                                " ms: read leases are wall-clock times, "
                                                "run NTP/chrony on every host"))});
  return out;
}

std::vector<DoctorCheck> CheckEtcd(const DoctorOptions& o) {
  std::vector<DoctorCheck> out;
  for (const std::string& endpoint : HostPortsOfUrls(o.etcd_endpoints)) {
    const std::string url = "http://" + endpoint;
    const auto start = SteadyClock::now();
    http::RequestOptions ro;
    ro.connect_timeout = ro.idle_timeout = ro.total_timeout = milliseconds(o.timeout_ms);
    StatusOr<http::Url> u = http::ParseUrl(url);
    StatusOr<http::Response> r = u.ok()
                                     ? http::Fetch(*u, "POST", "/v3/maintenance/status", "{}", ro)
                                     : StatusOr<http::Response>(u.status());
    Status s = r.ok() && r->status != 200 ? absl::UnavailableError(absl::StrCat("HTTP ", r->status))
                                          : r.status();
    out.push_back({"etcd " + url, s.ok(),
                   s.ok()
                       ? absl::StrCat("answers in ", MsSince(start), " ms")
                       : absl::StrCat("unreachable within ", o.timeout_ms, " ms: ", s.message())});
  }
  return out;
}

// The cluster token against the conductor's NodeRegistry (a heartbeat of a node
// it does not know changes nothing) and the admin token against its Admin API.
std::vector<DoctorCheck> CheckConductor(const DoctorOptions& o) {
  std::vector<DoctorCheck> out{Reachable("conductor", o.conductor_address, o)};
  if (!out[0].ok) return out;
  auto registry = v1::NodeRegistry::NewStub(MakeChannel(o.conductor_address));
  v1::NodeHeartbeatRequest probe;
  probe.set_node_id("kvcctl-doctor-probe");
  v1::NodeHeartbeatResponse ignored;
  const Status s =
      FromGrpcStatus(registry->Heartbeat(Ctx(o, o.cluster_token).get(), probe, &ignored));
  // Only UNAUTHENTICATED says the token is wrong; any other answer got past the check.
  const bool refused = s.code() == absl::StatusCode::kUnauthenticated;
  out.push_back({"conductor cluster token", !refused,
                 refused  ? absl::StrCat("refused (", s.message(),
                                         "): workers need the conductor's --cluster-token")
                 : s.ok() ? std::string("accepted")
                          : absl::StrCat("not refused (the probe got: ", s.message(), ")")});
  if (!o.admin_token.empty()) {
    auto admin = v1::Admin::NewStub(MakeChannel(o.conductor_address));
    v1::ListNodesResponse nodes;
    const Status a = FromGrpcStatus(admin->ListNodes(Ctx(o, o.admin_token).get(), {}, &nodes));
    out.push_back({"conductor admin token", a.ok(),
                   a.ok() ? absl::StrCat("accepted (", nodes.nodes_size(), " nodes registered)")
                          : absl::StrCat("refused: ", a.message())});
  }
  return out;
}

std::vector<DoctorCheck> CheckAddresses(const DoctorOptions& o) {
  std::vector<std::string> remotes = {o.master_address, o.conductor_address};
  for (const std::string& e : HostPortsOfUrls(o.etcd_endpoints)) remotes.push_back(e);
  std::vector<DoctorCheck> out;
  if (!o.advertise_address.empty()) {
    const Status s = CheckAdvertisedAddress(
        "advertise_address", o.advertise_address, remotes,
        "set --advertise-address to HOST:PORT of this node as the other hosts reach it");
    out.push_back(
        {"advertise address", s.ok(), s.ok() ? o.advertise_address : std::string(s.message())});
  }
  if (!o.transfer_listen_address.empty()) {
    transfer::TransferEngineOptions t;
    t.listen_address = o.transfer_listen_address;
    t.advertise_address = o.transfer_advertise_address;
    t.advertise_address = transfer::DefaultTransferAdvertise(t, o.advertise_address);
    Status s = transfer::ValidateTransferEngineOptions(t);
    if (s.ok()) s = transfer::CheckTransferAdvertise(t, remotes);
    out.push_back({"transfer address", s.ok(),
                   s.ok() ? absl::StrCat(transfer::PublishedTransferHost(t),
                                         " (peers dial it; "
                                         "open its port in the firewall or fix it with "
                                         "--transfer-listen-address HOST:PORT)")
                          : std::string(s.message())});
  }
  return out;
}

DoctorCheck CheckRdma() {
  StatusOr<std::vector<std::string>> nics = transfer::VerbsPreflight();
  if (nics.status().code() == absl::StatusCode::kNotFound) {
    return {"rdma", true, absl::StrCat(nics.status().message(), "; transfers use TCP")};
  }
  if (!nics.ok()) return {"rdma", false, std::string(nics.status().message())};
  return {"rdma", true,
          absl::StrCat("preflight passed on ", absl::StrJoin(*nics, ","),
                       " (device open, port active, GID readable, memory registration)")};
}

}  // namespace

void BindDoctorOptions(OptionSet& set, DoctorOptions* o) {
  set.Add("master_address", &o->master_address, "doctor: kvc-master host:port to check");
  set.Add("etcd.endpoints", &o->etcd_endpoints, "doctor: etcd client URLs to check");
  set.Add("conductor_address", &o->conductor_address,
          "doctor: kvc-conductor gRPC host:port to check (default: --target)");
  set.Add("cluster_token", &o->cluster_token, "doctor: cluster token to check");
  set.Add("advertise_address", &o->advertise_address,
          "doctor: the gRPC address this node announces");
  set.Add("transfer.listen_address", &o->transfer_listen_address,
          "doctor: the transfer target's listen address");
  set.Add("transfer.advertise_address", &o->transfer_advertise_address,
          "doctor: the transfer target's advertise address");
  set.Add("max_clock_skew_ms", &o->max_clock_skew_ms,
          "doctor: largest clock difference to the master that passes (ms)");
}

std::vector<DoctorCheck> RunDoctorChecks(const DoctorOptions& o) {
  std::vector<DoctorCheck> out;
  auto add = [&out](std::vector<DoctorCheck> more) {
    for (DoctorCheck& c : more) out.push_back(std::move(c));
  };
  if (!o.master_address.empty()) add(CheckMaster(o));
  if (!o.etcd_endpoints.empty()) add(CheckEtcd(o));
  if (!o.conductor_address.empty()) add(CheckConductor(o));
  add(CheckAddresses(o));
  out.push_back(CheckRdma());
  return out;
}

int PrintDoctorReport(const std::vector<DoctorCheck>& checks, bool json) {
  bool all_ok = true;
  nlohmann::json j = nlohmann::json::array();
  for (const DoctorCheck& c : checks) {
    all_ok = all_ok && c.ok;
    if (json) {
      j.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    } else {
      std::printf("%-4s %-24s %s\n", c.ok ? "ok" : "FAIL", c.name.c_str(), c.detail.c_str());
    }
  }
  if (json) std::printf("%s\n", kvc::DumpJson(j).c_str());
  return all_ok ? 0 : 1;
}

}  // namespace kvc::ctl
