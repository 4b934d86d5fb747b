#include "local/cluster_probe.h"

#include <fstream>

#include "kvc/http/client.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/v1/admin.grpc.pb.h"

namespace kvc::local {
namespace {

void CountUpWorkers(const ClusterState& state, const std::string& admin_token,
                    std::chrono::milliseconds timeout, ClusterHealth* h) {
  if (state.conductor_address.empty()) return;
  auto admin = v1::Admin::NewStub(MakeChannel(state.conductor_address));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  AddBearerToken(&ctx, admin_token);
  v1::ListNodesResponse resp;
  if (!admin->ListNodes(&ctx, {}, &resp).ok()) return;
  for (const auto& n : resp.nodes()) {
    if (n.state() != "up") continue;
    if (n.role() == v1::NODE_ROLE_PREFILL) ++h->prefill_up;
    if (n.role() == v1::NODE_ROLE_DECODE) ++h->decode_up;
  }
}

}  // namespace

std::string AddressFromPortFile(const std::string& port_file) {
  std::ifstream in(port_file);
  int port = 0;
  if (!(in >> port) || port <= 0) return "";
  return "127.0.0.1:" + std::to_string(port);
}

ClusterHealth ProbeCluster(const ClusterState& state, const std::string& admin_token,
                           std::chrono::milliseconds timeout) {
  ClusterHealth h;
  for (const auto& p : state.processes) {
    const bool alive = IsAlive(p);
    const std::string address = AddressFromPortFile(p.port_file);
    auto health = address.empty() ? StatusOr<std::string>(absl::UnavailableError("no port"))
                                  : CheckHealth(address, timeout);
    const bool serving = alive && health.ok() && *health == "SERVING";
    h.processes_alive += alive ? 1 : 0;
    h.processes_serving += serving ? 1 : 0;
    if (!serving && h.first_problem.empty()) h.first_problem = p.name;
  }
  CountUpWorkers(state, admin_token, timeout, &h);
  if (state.http_port > 0) {
    http::RequestOptions o;
    o.connect_timeout = o.idle_timeout = o.total_timeout = timeout;
    auto r = http::Fetch(http::Loopback(state.http_port), "GET", "/health", "", o);
    h.http_status = r.ok() ? r->status : 0;  // 0: nothing answered in time
  }
  return h;
}

}  // namespace kvc::local
