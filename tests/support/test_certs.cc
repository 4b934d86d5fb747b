#include "tests/support/test_certs.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kvc::testing {

bool HaveOpenSsl() { return std::system("command -v openssl >/dev/null 2>&1") == 0; }

StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  std::ofstream(dir + "/server.ext")
      << "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n";
  std::ofstream(dir + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  std::ofstream(dir + "/make.sh") << R"(set -e
for c in ca rogue; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout $c.key -out $c.pem -days 2 \
    -subj /CN=kvc-test-$c -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign
done
n=1
for pair in server:ca client:ca stranger:rogue; do
  name=${pair%%:*}; signer=${pair#*:}; ext=client.ext
  [ $name = server ] && ext=server.ext
  openssl req -newkey rsa:2048 -nodes -keyout $name.key -out $name.csr -subj /CN=127.0.0.1
  openssl x509 -req -in $name.csr -CA $signer.pem -CAkey $signer.key -set_serial $n -days 2 \
    -out $name.pem -extfile $ext
  n=$((n + 1))
done
)";
  if (std::system(("cd '" + dir + "' && bash make.sh >make.log 2>&1").c_str()) != 0) {
    std::ifstream log(dir + "/make.log");
    std::stringstream text;
    text << log.rdbuf();
    return absl::InternalError("making test certificates failed:\n" + text.str());
  }
  TestCerts c;
  c.dir = dir;
  c.ca = dir + "/ca.pem";
  c.server_cert = dir + "/server.pem";
  c.server_key = dir + "/server.key";
  c.client_cert = dir + "/client.pem";
  c.client_key = dir + "/client.key";
  c.rogue_ca = dir + "/rogue.pem";
  c.stranger_cert = dir + "/stranger.pem";
  c.stranger_key = dir + "/stranger.key";
  return c;
}

}  // namespace kvc::testing
