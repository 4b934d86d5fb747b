#include "worker/internal/model_dir.h"

#include <stdlib.h>

#include <filesystem>

#include "kvc/engine/tiny_model.h"

namespace kvc::worker {

StatusOr<std::unique_ptr<ModelDir>> ModelDir::Open(const std::string& configured) {
  if (!configured.empty()) {
    if (!std::filesystem::is_directory(configured)) {
      return absl::NotFoundError("model: '" + configured + "' is not a directory");
    }
    return std::unique_ptr<ModelDir>(new ModelDir(configured, false));
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "kvc-tiny-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError("model: cannot create a temporary directory for kvc-tiny");
  }
  std::unique_ptr<ModelDir> out(new ModelDir(tmpl, true));
  KVC_RETURN_IF_ERROR(engine::WriteTinyModel(tmpl, /*seed=*/0));
  return out;
}

ModelDir::~ModelDir() {
  if (!owned_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace kvc::worker
