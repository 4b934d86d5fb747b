// The model directory a worker serves: the configured one, or the built-in kvc-tiny
// model written into a fresh temporary directory that is removed on destruction.
#pragma once

#include <memory>
#include <string>

#include "kvc/common/status.h"

namespace kvc::worker {

class ModelDir {
 public:
  // `configured` empty = write kvc-tiny (seed 0, as `kvc-model init`) to a temp dir.
  static StatusOr<std::unique_ptr<ModelDir>> Open(const std::string& configured);
  ~ModelDir();  // removes the temp dir, if one was made
  ModelDir(const ModelDir&) = delete;
  ModelDir& operator=(const ModelDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  ModelDir(std::string path, bool owned) : path_(std::move(path)), owned_(owned) {}
  const std::string path_;
  const bool owned_;
};

}  // namespace kvc::worker
