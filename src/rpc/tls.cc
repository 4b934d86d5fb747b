#include "kvc/rpc/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "kvc/http/client.h"

namespace kvc {
namespace {

// The loaded PEM texts; empty strings = not set.
struct Pems {
  bool enabled = false;
  std::string cert, key, ca, client_ca;
};

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}
Pems& Current() {  // guarded by Mu()
  static Pems pems;
  return pems;
}

StatusOr<std::string> ReadPem(const std::string& field, const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": cannot read '", path, "' (a PEM file is expected)"));
  }
  return text.str();
}

}  // namespace

void BindTlsOptions(OptionSet& set, TlsOptions* o) {
  set.Add("tls.cert_file", &o->cert_file,
          "PEM certificate (chain) of this process: gRPC server TLS, and the client "
          "certificate its channels present (empty = plaintext server)");
  set.Add("tls.key_file", &o->key_file, "PEM private key of tls.cert_file");
  set.Add("tls.ca_file", &o->ca_file,
          "PEM CA bundle servers this process dials must chain to; set = TLS on every channel");
  set.Add("tls.client_ca_file", &o->client_ca_file,
          "PEM CA bundle gRPC clients' certificates must chain to (mutual TLS; empty = none "
          "required)");
}

Status ValidateTlsOptions(const TlsOptions& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError(o.cert_file.empty()
                                          ? "tls.cert_file: must be set with tls.key_file"
                                          : "tls.key_file: must be set with tls.cert_file");
  }
  if (!o.client_ca_file.empty() && o.cert_file.empty()) {
    return absl::InvalidArgumentError(
        "tls.client_ca_file: needs tls.cert_file and tls.key_file (the server's own certificate)");
  }
  for (const auto& [field, path] :
       {std::pair<const char*, const std::string&>{"tls.cert_file", o.cert_file},
        {"tls.key_file", o.key_file},
        {"tls.ca_file", o.ca_file},
        {"tls.client_ca_file", o.client_ca_file}}) {
    KVC_RETURN_IF_ERROR(ReadPem(field, path).status());
  }
  return Status();
}

Status SetProcessTls(const TlsOptions& o) {
  KVC_RETURN_IF_ERROR(ValidateTlsOptions(o));
  Pems pems;
  pems.enabled = o.enabled();
  KVC_ASSIGN_OR_RETURN(pems.cert, ReadPem("tls.cert_file", o.cert_file));
  KVC_ASSIGN_OR_RETURN(pems.key, ReadPem("tls.key_file", o.key_file));
  KVC_ASSIGN_OR_RETURN(pems.ca, ReadPem("tls.ca_file", o.ca_file));
  KVC_ASSIGN_OR_RETURN(pems.client_ca, ReadPem("tls.client_ca_file", o.client_ca_file));
  // The same CA and certificate for https requests (the etcd gateway, probes).
  KVC_RETURN_IF_ERROR(http::SetClientTls({o.ca_file, o.cert_file, o.key_file}));
  std::lock_guard lock(Mu());
  Current() = std::move(pems);
  return Status();
}

std::shared_ptr<grpc::ServerCredentials> ProcessServerCredentials() {
  std::lock_guard lock(Mu());
  const Pems& p = Current();
  if (p.cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      p.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = p.client_ca;
  ssl.pem_key_cert_pairs.push_back({p.key, p.cert});
  return grpc::SslServerCredentials(ssl);
}

std::shared_ptr<grpc::ChannelCredentials> ProcessChannelCredentials() {
  std::lock_guard lock(Mu());
  const Pems& p = Current();
  if (!p.enabled) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = p.ca;
  ssl.pem_private_key = p.key;
  ssl.pem_cert_chain = p.cert;
  return grpc::SslCredentials(ssl);
}

}  // namespace kvc
