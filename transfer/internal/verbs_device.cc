#include "transfer/internal/verbs_device.h"

#include <atomic>

#include "absl/strings/str_cat.h"

namespace kvc::transfer::internal {
namespace {

std::atomic<VerbsProvider*> g_test_provider{nullptr};

}  // namespace

Status CompletionStatus(const VerbsCompletion& c, const std::string& path) {
  switch (c.code) {
    case VerbsCompletionCode::kOk:
      return absl::OkStatus();
    case VerbsCompletionCode::kRemoteAccess:
      return absl::OutOfRangeError(absl::StrCat("verbs path ", path,
                                                ": the remote NIC refused the access (", c.detail,
                                                "): range or rkey not registered there"));
    case VerbsCompletionCode::kFlushed:
      return absl::UnavailableError(
          absl::StrCat("verbs path ", path, ": work flushed, the QP is in error (", c.detail, ")"));
    case VerbsCompletionCode::kRetryExceeded:
      return absl::UnavailableError(
          absl::StrCat("verbs path ", path, ": the peer does not answer (", c.detail, ")"));
    case VerbsCompletionCode::kOther:
      break;
  }
  return absl::UnavailableError(absl::StrCat("verbs path ", path, ": ", c.detail));
}

VerbsProvider& EngineVerbsProvider() {
  static VerbsProvider* const ibv = MakeIbvProvider().release();  // lives for the process
  VerbsProvider* test = g_test_provider.load();
  return test != nullptr ? *test : *ibv;
}

void SetVerbsProviderForTesting(VerbsProvider* provider) { g_test_provider = provider; }

}  // namespace kvc::transfer::internal
