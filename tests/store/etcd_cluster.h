// Test helper: a real etcd (/usr/bin/etcd) on loopback ports and kvc-master
// processes campaigning in it (etcd mode). Tests skip when etcd is not installed.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd/etcd_client.h"
#include "tests/support/subprocess.h"

namespace kvc::store::testing {

inline bool HaveEtcd() { return std::filesystem::exists("/usr/bin/etcd"); }

inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// One etcd member on loopback plus kvc-master processes (address -> process).
class EtcdCluster {
 public:
  EtcdCluster()
      : client_url_("http://127.0.0.1:" + std::to_string(FreePort())),
        peer_url_("http://127.0.0.1:" + std::to_string(FreePort())),
        etcd_proc_({"/usr/bin/etcd", "--name", "t", "--data-dir", data_.path() + "/etcd",
                    "--listen-client-urls", client_url_, "--advertise-client-urls", client_url_,
                    "--listen-peer-urls", peer_url_, "--initial-advertise-peer-urls", peer_url_,
                    "--initial-cluster", "t=" + peer_url_},
                   dir_.path() + "/etcd.log"),
        etcd_({client_url_}, std::chrono::milliseconds(1000)) {}

  // Waits until etcd answers; false (with its log in the failure) otherwise.
  bool WaitUp() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!etcd_.Get("/probe").ok() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const bool up = etcd_.Get("/probe").ok();
    EXPECT_TRUE(up) << kvc::testing::ReadFile(dir_.path() + "/etcd.log");
    return up;
  }

  // Starts kvc-master number `i` campaigning with a 2 s lease; returns its address
  // ("" on failure).
  std::string StartMaster(int i, const std::vector<std::string>& flags = {}) {
    const std::string name = "m" + std::to_string(i);
    const std::string port_file = dir_.path() + "/" + name + ".port";
    std::vector<std::string> argv = {kvc::testing::BinDir() + "/kvc-master",
                                     "--listen-address",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     port_file,
                                     "--etcd-endpoints",
                                     client_url_,
                                     "--etcd-lease-ttl-s",
                                     "2",
                                     "--store-heartbeat-interval-ms",
                                     "100",
                                     "--store-lease-ms",
                                     "500"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto proc = std::make_unique<kvc::testing::Subprocess>(argv, dir_.path() + "/" + name + ".log");
    const int port = kvc::testing::WaitForPortFile(port_file, std::chrono::milliseconds(10000));
    if (port <= 0) return "";
    const std::string address = "127.0.0.1:" + std::to_string(port);
    masters_[address] = std::move(proc);
    return address;
  }
  void KillMaster(const std::string& address) {
    masters_.at(address)->Signal(SIGKILL);
    masters_.at(address)->WaitFor(std::chrono::milliseconds(5000));
  }
  bool IsMaster(const std::string& address) const { return masters_.count(address) == 1; }
  // Freezes (SIGSTOP) or thaws (SIGCONT) the etcd process: requests to it hang.
  void FreezeEtcd(bool frozen) { etcd_proc_.Signal(frozen ? SIGSTOP : SIGCONT); }

  // Polls etcd for the leader key until it is set and differs from `not_this`.
  std::string WaitLeader(const std::string& not_this, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto v = etcd_.Get("/kvc/master/leader");
      if (v.ok() && v->has_value() && !(*v)->empty() && **v != not_this) return **v;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
  }

  const std::string& client_url() const { return client_url_; }
  const std::string& dir() const { return dir_.path(); }
  EtcdClient& etcd() { return etcd_; }

 private:
  kvc::testing::TempDir dir_;
  // etcd's data in memory: a WAL fsync on a disk busy with compiles can stall etcd
  // past the masters' lease keep-alive deadlines (a leader then loses its lease).
  kvc::testing::TempDir data_{"/dev/shm"};
  const std::string client_url_;
  const std::string peer_url_;
  kvc::testing::Subprocess etcd_proc_;
  EtcdClient etcd_;
  std::map<std::string, std::unique_ptr<kvc::testing::Subprocess>> masters_;
};

}  // namespace kvc::store::testing
