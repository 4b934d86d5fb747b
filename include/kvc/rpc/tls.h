// TLS for gRPC, process-wide: once SetProcessTls has run, every server
// RunningServer::Start builds and every channel MakeChannel opens uses the
// process's certificates (PEM files), so one set of options covers a role's
// server and all its clients. Without it (the default) both stay plaintext.
//
//   tls.cert_file + tls.key_file  this process's certificate: served by its gRPC
//                                 server, and presented as client certificate on
//                                 its channels (mutual TLS)
//   tls.ca_file                   CA bundle the servers this process dials must
//                                 chain to; setting it (or cert_file) turns TLS on
//                                 for every channel ("" with cert_file = the
//                                 system roots)
//   tls.client_ca_file            server side: require a client certificate
//                                 chaining to this CA (mutual TLS); "" = none asked
//
// The same CA and certificate apply to the process's https requests (kvc/http/
// client.h: an https:// etcd endpoint, probes), so one cluster CA covers both.
//
// Servers are dialled by the host in their address: their certificate must name
// it (subjectAltName IP or DNS). Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "kvc/common/config.h"
#include "kvc/common/status.h"

namespace kvc {

struct TlsOptions {
  std::string cert_file;       // PEM certificate chain of this process ("" = no server TLS)
  std::string key_file;        // PEM private key of cert_file
  std::string ca_file;         // PEM CA bundle to verify servers dialled ("" = system roots)
  std::string client_ca_file;  // PEM CA bundle client certificates must chain to (mTLS)
  bool enabled() const { return !cert_file.empty() || !ca_file.empty(); }
};

// Binds tls.cert_file, tls.key_file, tls.ca_file, tls.client_ca_file.
void BindTlsOptions(OptionSet& set, TlsOptions* options);
// INVALID_ARGUMENT naming the field: cert_file without key_file (or the other
// way round), client_ca_file without cert_file, or a file that cannot be read.
[[nodiscard]] Status ValidateTlsOptions(const TlsOptions& options);

// Reads the files and makes them the process's TLS settings for servers and
// channels created from now on (an options value with nothing set = plaintext).
// Errors name the field whose file cannot be read; the settings are then unchanged.
[[nodiscard]] Status SetProcessTls(const TlsOptions& options);

// The credentials RunningServer::Start and MakeChannel use now.
std::shared_ptr<grpc::ServerCredentials> ProcessServerCredentials();
std::shared_ptr<grpc::ChannelCredentials> ProcessChannelCredentials();

}  // namespace kvc
