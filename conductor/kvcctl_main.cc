// kvcctl: the operator's command line over kvc's admin gRPC API.
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "conductor/kvcctl_doctor.h"
#include "kvc/common/config.h"
#include "kvc/common/json.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/rpc/process_main.h"
#include "kvc/rpc/server.h"
#include "kvc/rpc/tls.h"
#include "kvc/v1/admin.grpc.pb.h"

namespace {

struct CtlOptions {
  std::string target =
      "127.0.0.1:50051";       // gRPC address of the conductor (or any server for health)
  std::string admin_token;     // sent as "authorization: Bearer"
  uint32_t timeout_ms = 5000;  // deadline of each call
  bool json = false;           // machine-readable output
};

struct Args {
  std::string node_id;
  double ttft = 0, tbt = 0;
  std::string text;                 // lookup: prompt text
  std::vector<uint32_t> token_ids;  // lookup: or token ids
  std::string chat;                 // lookup: or one user chat message
};

int Fail(const kvc::Status& s) {
  std::fprintf(stderr, "kvcctl: %s: %s\n", absl::StatusCodeToString(s.code()).c_str(),
               std::string(s.message()).c_str());
  return 1;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

class Ctl {
 public:
  explicit Ctl(const CtlOptions& o)
      : o_(o), stub_(kvc::v1::Admin::NewStub(kvc::MakeChannel(o.target))) {}

  // Runs one admin RPC with deadline and token; prints the reply as JSON or via `table`.
  template <typename Req, typename Resp, typename Call, typename Table>
  int Run(Req req, Call call, Table table) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(o_.timeout_ms));
    kvc::AddBearerToken(&ctx, o_.admin_token);
    Resp resp;
    grpc::Status st = ((*stub_).*call)(&ctx, req, &resp);
    if (!st.ok()) return Fail(kvc::FromGrpcStatus(st));
    if (o_.json) {
      std::printf("%s\n", ToJson(resp).c_str());
    } else {
      table(resp);
    }
    return 0;
  }

  const CtlOptions& o_;
  std::unique_ptr<kvc::v1::Admin::Stub> stub_;
};

void PrintNodes(const google::protobuf::RepeatedPtrField<kvc::v1::NodeInfo>& nodes) {
  std::printf("%-32s %-8s %-22s %-9s %6s %9s %9s %8s  %s\n", "NODE", "ROLE", "ADDRESS", "STATE",
              "QUEUE", "FREE_KV", "QUAR_KV", "RUNNING", "WHY");
  for (const auto& n : nodes) {
    std::string role = kvc::v1::NodeRole_Name(n.role());
    role = role.substr(role.rfind('_') + 1);
    std::printf("%-32s %-8s %-22s %-9s %6u %9lu %9lu %8u  %s\n", n.node_id().c_str(), role.c_str(),
                n.rpc_address().c_str(), n.state().c_str(), n.load().queued_requests(),
                static_cast<unsigned long>(n.load().free_kv_blocks()),
                static_cast<unsigned long>(n.load().quarantined_kv_blocks()),
                n.load().running_requests(), n.state_reason().c_str());
  }
}

int RunHealth(const CtlOptions& o) {
  auto status = kvc::CheckHealth(o.target, std::chrono::milliseconds(o.timeout_ms));
  const bool serving = status.ok() && *status == "SERVING";
  const std::string text = status.ok() ? *status : std::string(status.status().message());
  if (o.json) {
    nlohmann::json j = {{"target", o.target}, {"serving", serving}, {"status", text}};
    std::printf("%s\n", kvc::DumpJson(j).c_str());
  } else {
    std::printf("%-24s %s\n", o.target.c_str(), text.c_str());
  }
  return serving ? 0 : 1;
}

using A = kvc::v1::Admin::Stub;

int RunCommand(const std::string& cmd, const CtlOptions& o, const Args& a,
               kvc::ctl::DoctorOptions doctor) {
  if (cmd == "health") return RunHealth(o);
  if (cmd == "doctor") {
    if (doctor.conductor_address.empty()) doctor.conductor_address = o.target;
    doctor.admin_token = o.admin_token;
    doctor.timeout_ms = o.timeout_ms;
    return kvc::ctl::PrintDoctorReport(kvc::ctl::RunDoctorChecks(doctor), o.json);
  }
  Ctl ctl(o);
  if (cmd == "nodes") {
    return ctl.Run<kvc::v1::ListNodesRequest, kvc::v1::ListNodesResponse>(
        {}, &A::ListNodes, [](const auto& r) { PrintNodes(r.nodes()); });
  }
  if (cmd == "drain" || cmd == "undrain") {
    kvc::v1::DrainNodeRequest req;
    req.set_node_id(a.node_id);
    return ctl.Run<kvc::v1::DrainNodeRequest, kvc::v1::DrainNodeResponse>(
        req, cmd == "drain" ? &A::DrainNode : &A::UndrainNode, [](const auto& r) {
          std::printf("%s is now %s\n", r.node().node_id().c_str(), r.node().state().c_str());
        });
  }
  if (cmd == "stats") {
    return ctl.Run<kvc::v1::GetClusterStatsRequest, kvc::v1::ClusterStats>(
        {}, &A::GetClusterStats, [](const kvc::v1::ClusterStats& s) {
          std::printf("requests %lu  rejected %lu  failed %lu\n",
                      static_cast<unsigned long>(s.requests_total()),
                      static_cast<unsigned long>(s.requests_rejected()),
                      static_cast<unsigned long>(s.requests_failed()));
          std::printf("prompt tokens %lu  cached %lu  (hit rate %.3f)  completion tokens %lu\n",
                      static_cast<unsigned long>(s.prompt_tokens_total()),
                      static_cast<unsigned long>(s.cached_prompt_tokens_total()),
                      s.cache_hit_rate(), static_cast<unsigned long>(s.completion_tokens_total()));
          PrintNodes(s.nodes());
        });
  }
  if (cmd == "slo") {
    auto print = [](const kvc::v1::SLO& s) {
      std::printf("TTFT %.3f s  TBT %.3f s\n", s.ttft_seconds(), s.tbt_seconds());
    };
    if (a.ttft == 0 && a.tbt == 0) {
      return ctl.Run<kvc::v1::GetSLORequest, kvc::v1::SLO>({}, &A::GetSLO, print);
    }
    kvc::v1::SetSLORequest req;
    req.mutable_slo()->set_ttft_seconds(a.ttft);
    req.mutable_slo()->set_tbt_seconds(a.tbt);
    return ctl.Run<kvc::v1::SetSLORequest, kvc::v1::SLO>(req, &A::SetSLO, print);
  }
  if (cmd == "lookup") {
    kvc::v1::LookupPrefixRequest req;
    if (!a.token_ids.empty()) {
      for (uint32_t id : a.token_ids) req.mutable_token_ids()->add_ids(id);
    } else if (!a.chat.empty()) {
      req.set_chat(a.chat);
    } else {
      req.set_text(a.text);
    }
    return ctl.Run<kvc::v1::LookupPrefixRequest, kvc::v1::LookupPrefixResponse>(
        req, &A::LookupPrefix, [](const kvc::v1::LookupPrefixResponse& r) {
          std::printf("prompt blocks %u\n", r.total_blocks());
          std::printf("%-32s %14s\n", "NODE", "MATCHED_BLOCKS");
          for (const auto& m : r.matches()) {
            std::printf("%-32s %14u\n", m.node_id().c_str(), m.matched_blocks());
          }
        });
  }
  if (cmd == "metrics") {
    return ctl.Run<kvc::v1::GetMetricsRequest, kvc::v1::GetMetricsResponse>(
        {}, &A::GetMetrics, [](const auto& r) { std::printf("%s", r.prometheus_text().c_str()); });
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CtlOptions options;
  Args args;
  kvc::ctl::DoctorOptions doctor;
  kvc::TlsOptions tls;
  kvc::OptionSet set;
  set.Add("target", &options.target,
          "gRPC address host:port of the conductor (any kvc server for health)");
  set.Add("admin_token", &options.admin_token, "admin token, sent as 'authorization: Bearer'");
  set.Add("timeout_ms", &options.timeout_ms, "deadline of each call in milliseconds");
  set.Add("json", &options.json, "print JSON instead of a table");
  kvc::ctl::BindDoctorOptions(set, &doctor);
  // The same tls.* as the servers' (a role's config file or KVC_TLS_* works here
  // too): tls.ca_file to reach TLS servers, tls.cert_file for mutual TLS.
  kvc::BindTlsOptions(set, &tls);

  CLI::App app("kvcctl: admin CLI for a kvc cluster (talks to kvc-conductor's Admin gRPC API).",
               "kvcctl");
  set.AttachTo(app);
  app.require_subcommand(1);
  app.add_subcommand("health", "check grpc.health.v1 of any kvc server (exit 0 when SERVING)");
  app.add_subcommand("nodes", "list registered nodes with state and load");
  app.add_subcommand("drain", "stop new work on a node (running requests finish)")
      ->add_option("node_id", args.node_id, "node id")
      ->required();
  app.add_subcommand("undrain", "let a drained node take new work again")
      ->add_option("node_id", args.node_id, "node id")
      ->required();
  app.add_subcommand("stats", "cluster request/token counters, cache hit rate, per-node load");
  auto* slo = app.add_subcommand("slo", "show the TTFT/TBT objectives, or set both");
  slo->add_option("--ttft", args.ttft, "new TTFT objective in seconds");
  slo->add_option("--tbt", args.tbt, "new TBT objective in seconds");
  app.add_subcommand("metrics", "the conductor's Prometheus metrics");
  app.add_subcommand("doctor",
                     "check what a multi-host start of this node needs: master/etcd/conductor "
                     "reachable, tokens accepted, advertised addresses dialable, clock skew, RDMA "
                     "preflight; one line per check, exit 1 when any fails");
  auto* lookup = app.add_subcommand(
      "lookup",
      "which nodes hold how many leading KV blocks of a prompt (text, chat message or token ids)");
  lookup->add_option("--text", args.text, "prompt text (tokenized as a completion prompt)");
  lookup->add_option("--chat", args.chat,
                     "one user chat message (tokenized with the model's chat template, as "
                     "/v1/chat/completions does)");
  lookup->add_option("--tokens", args.token_ids, "prompt token ids (comma-separated)")
      ->delimiter(',');
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (kvc::Status s = set.Resolve(); !s.ok()) {
    return kvc::ConfigurationError("kvcctl", s);
  }
  if (kvc::Status s = kvc::SetProcessTls(tls); !s.ok()) {
    return kvc::ConfigurationError("kvcctl", s);
  }
  if (kvc::Status s = kvc::ValidateHostPort("target", options.target); !s.ok()) {
    std::fprintf(stderr, "kvcctl: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  const std::string cmd = app.get_subcommands().front()->get_name();
  if (cmd == "lookup" &&
      int{!args.text.empty()} + int{!args.token_ids.empty()} + int{!args.chat.empty()} != 1) {
    std::fprintf(stderr, "kvcctl: lookup: give exactly one of --text, --chat or --tokens\n");
    return 2;
  }
  if ((args.ttft == 0) != (args.tbt == 0)) {
    std::fprintf(stderr, "kvcctl: slo: give both --ttft and --tbt to change the objectives\n");
    return 2;
  }
  return RunCommand(app.get_subcommands().front()->get_name(), options, args, doctor);
}
