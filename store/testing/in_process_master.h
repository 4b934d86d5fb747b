// Test support for components above the store: a kvc-master inside the test
// process (MasterCore + MasterService on a loopback gRPC port, heartbeat interval
// 100 ms), so a unit test can mount segments and put/get blocks without spawning
// kvc-master. Not thread-safe to construct or destroy; the served RPCs are.
#pragma once

#include <memory>
#include <string>

#include "kvc/common/metrics.h"
#include "kvc/rpc/server.h"
#include "store/master/master_core.h"
#include "store/master/master_service.h"

namespace kvc::store::testing {

class InProcessMaster {
 public:
  // Binds 127.0.0.1:0; a failed bind is a gtest failure.
  InProcessMaster();
  ~InProcessMaster();
  std::string address() const { return server_->address(); }

 private:
  MetricsRegistry metrics_;
  MasterCore core_;
  MasterService service_;
  std::unique_ptr<RunningServer> server_;
};

}  // namespace kvc::store::testing
