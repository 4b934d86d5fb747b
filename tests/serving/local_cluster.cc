#include "tests/serving/local_cluster.h"

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "kvc/common/json.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"

namespace kvc::testing {

using std::chrono::milliseconds;

int LocalCluster::RunLocal(std::vector<std::string> args, std::string* output) const {
  args.insert(args.begin(), BinDir() + "/kvc-local");
  args.insert(args.end(), {"--run-dir", dir_.path()});
  const std::string log = dir_.path() + "/kvc-local.out";
  Subprocess p(args, log);
  auto status = p.WaitFor(milliseconds(90000));
  if (output) *output = ReadFile(log);
  if (!status || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

LocalCluster::LocalCluster(const std::vector<std::string>& args) {
  std::vector<std::string> up = {"up", "--http-port", "0", "--timeout-s", "60"};
  up.insert(up.end(), args.begin(), args.end());
  if (RunLocal(up, &up_output_) != 0) return;
  auto j = nlohmann::json::parse(ReadFile(dir_.path() + "/cluster.json"), nullptr, false);
  if (j.is_discarded()) return;
  http_port_ = j.value("http_port", 0);
  conductor_address_ = j.value("conductor_address", "");
  for (const auto& p : j["processes"]) pids_[p.value("name", "")] = p.value("pid", 0);
  ok_ = http_port_ > 0 && !conductor_address_.empty();
}

LocalCluster::~LocalCluster() {
  std::string out;
  RunLocal({"down", "--grace-s", "3"}, &out);
}

pid_t LocalCluster::Pid(const std::string& name) const {
  auto it = pids_.find(name);
  return it == pids_.end() ? 0 : it->second;
}

std::string LocalCluster::admin_token() const {
  std::string t = ReadFile(dir_.path() + "/admin.token");
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

std::vector<kvc::v1::NodeInfo> LocalCluster::Nodes() const {
  auto admin = kvc::v1::Admin::NewStub(MakeChannel(conductor_address_));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(2000));
  AddBearerToken(&ctx, admin_token());
  kvc::v1::ListNodesResponse resp;
  if (!admin->ListNodes(&ctx, {}, &resp).ok()) return {};
  return {resp.nodes().begin(), resp.nodes().end()};
}

std::map<std::string, std::string> LocalCluster::NodeStates() const {
  std::map<std::string, std::string> out;
  for (const auto& n : Nodes()) out[n.node_id()] = n.state();
  return out;
}

std::string ChatBody(const std::string& content, int max_tokens, bool stream,
                     const std::string& extra) {
  nlohmann::json j = {{"model", "kvc-tiny"},
                      {"messages", {{{"role", "user"}, {"content", content}}}},
                      {"max_tokens", max_tokens},
                      {"temperature", 0},
                      {"stream", stream}};
  if (!extra.empty()) j.update(nlohmann::json::parse(extra));
  return kvc::DumpJson(j);
}

}  // namespace kvc::testing
