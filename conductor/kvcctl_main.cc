// kvcctl: the operator's command line over kvc's admin gRPC API.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "kvc/common/config.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/server.h"

namespace {

struct CtlOptions {
  std::string target = "127.0.0.1:50051";  // gRPC address of the server to talk to
  uint32_t timeout_ms = 2000;              // deadline of each call
  bool json = false;                       // machine-readable output
};

int RunHealth(const CtlOptions& o) {
  auto status = kvc::CheckHealth(o.target, std::chrono::milliseconds(o.timeout_ms));
  const bool serving = status.ok() && *status == "SERVING";
  const std::string text = status.ok() ? *status : std::string(status.status().message());
  if (o.json) {
    nlohmann::json j = {{"target", o.target}, {"serving", serving}, {"status", text}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%-24s %s\n", o.target.c_str(), text.c_str());
  }
  return serving ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CtlOptions options;
  kvc::OptionSet set;
  set.Add("target", &options.target, "gRPC address host:port of the kvc server to query");
  set.Add("timeout_ms", &options.timeout_ms, "deadline of each call in milliseconds");
  set.Add("json", &options.json, "print JSON instead of a table");

  CLI::App app(
      "kvcctl: admin CLI for a kvc cluster.\n"
      "Status: only `health` is built; nodes, drain, stats, slo and lookup arrive with the "
      "conductor's admin API.",
      "kvcctl");
  set.AttachTo(app);
  app.require_subcommand(1);
  auto* health =
      app.add_subcommand("health", "check grpc.health.v1 of any kvc server (exit 0 when SERVING)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (kvc::Status s = set.Resolve(); !s.ok()) {
    std::fprintf(stderr, "kvcctl: configuration error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (kvc::Status s = kvc::ValidateHostPort("target", options.target); !s.ok()) {
    std::fprintf(stderr, "kvcctl: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (health->parsed()) return RunHealth(options);
  return 2;
}
