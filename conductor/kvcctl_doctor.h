// kvcctl doctor: run on a node before (or instead of) starting a role there, it
// checks what a multi-host start needs and prints one line per check ("ok" or
// "FAIL" with what to fix): the master, etcd and conductor answer within the
// deadline; the cluster and admin tokens are accepted; the addresses this node
// announces are dialable by its peers (not a wildcard, not loopback while a peer
// is on another host); the clock agrees with the master's; RDMA devices pass the
// transfer engine's preflight when there are any. The option names are the
// roles' own (master_address, conductor_address, cluster_token,
// advertise_address, transfer.*), so the node's KVC_* environment applies as is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvc/common/config.h"

namespace kvc::ctl {

struct DoctorOptions {
  std::string master_address;           // kvc-master host:port ("" = not checked)
  std::string etcd_endpoints;           // etcd client URLs ("" = not checked)
  std::string conductor_address;        // kvc-conductor gRPC host:port ("" = not checked)
  std::string cluster_token;            // checked against the master and the conductor
  std::string admin_token;              // checked against the conductor's Admin API ("" = skipped)
  std::string advertise_address;        // the gRPC address this node announces ("" = not checked)
  std::string transfer_listen_address;  // transfer.listen_address ("" = not checked)
  std::string transfer_advertise_address;  // transfer.advertise_address
  uint32_t max_clock_skew_ms = 500;        // leases are in wall-clock ms: more skew is a failure
  uint32_t timeout_ms = 2000;              // deadline of each network check
};

// Binds the doctor's options (keys as in the roles; admin_token and timeout_ms
// are kvcctl's own and bound by it).
void BindDoctorOptions(OptionSet& set, DoctorOptions* options);

struct DoctorCheck {
  std::string name;  // "master", "etcd http://10.0.0.1:2379", "clock", ...
  bool ok = false;
  std::string detail;  // what was found, or what is wrong and how to fix it
};

// Runs every check that has its inputs (each network wait bounded by timeout_ms).
std::vector<DoctorCheck> RunDoctorChecks(const DoctorOptions& options);
// Prints one line per check; returns 0 when all passed, 1 otherwise.
int PrintDoctorReport(const std::vector<DoctorCheck>& checks, bool json);

}  // namespace kvc::ctl
