#include "store/testing/in_process_master.h"

#include <gtest/gtest.h>

#include "kvc/common/clock.h"

namespace kvc::store::testing {
namespace {
MasterPolicyOptions Policy() {
  MasterPolicyOptions p;
  p.heartbeat_interval_ms = 100;
  return p;
}
}  // namespace

InProcessMaster::InProcessMaster()
    : core_(Policy(), Clock::Real(), metrics_), service_(core_, metrics_, 100) {
  auto server = RunningServer::Start("master", ServerOptions{}, {&service_});
  EXPECT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
}

InProcessMaster::~InProcessMaster() { server_->Shutdown(0); }

}  // namespace kvc::store::testing
