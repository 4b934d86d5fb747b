// Test support: X.509 certificates made at test time with the openssl CLI
// (Debian package openssl), never committed. One CA signs a server certificate
// (subjectAltName IP:127.0.0.1 and DNS:localhost; usable as a client certificate
// too, as a node certificate is) and a client certificate; a
// second, unrelated CA ("rogue") signs a "stranger" certificate, for tests that
// must see a foreign certificate refused.
#pragma once

#include <string>

#include "kvc/common/status.h"

namespace kvc::testing {

struct TestCerts {
  std::string dir;
  std::string ca, server_cert, server_key, client_cert, client_key;
  std::string rogue_ca, stranger_cert, stranger_key;
};

// True when the openssl CLI is on PATH (tests GTEST_SKIP otherwise).
bool HaveOpenSsl();
// Writes the certificates into `dir` (must exist). INTERNAL with openssl's log
// when making them fails.
StatusOr<TestCerts> MakeTestCerts(const std::string& dir);

}  // namespace kvc::testing
