#include "kvc/common/port_file.h"

#include <filesystem>
#include <fstream>

namespace kvc {

Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return absl::InternalError("port_file: cannot write '" + tmp + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);  // atomic: readers never see a partial file
  if (ec) return absl::InternalError("port_file: cannot rename to '" + path + "': " + ec.message());
  return Status();
}

}  // namespace kvc
