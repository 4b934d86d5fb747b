#include "store/client/put_retry.h"

#include <cstdlib>
#include <string>
#include <string_view>

#include "kvc/common/reason.h"

namespace kvc::store {

std::optional<std::chrono::milliseconds> GraceLeft(const Status& s) {
  if (ReasonCodeOf(s) != Reason::kTakeoverGrace) return std::nullopt;
  const std::string_view m(s.message().data(), s.message().size());
  constexpr std::string_view kLead = "for another ";
  const size_t at = m.find(kLead);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string digits(m.substr(at + kLead.size(), 12));
  char* end = nullptr;
  const long long ms = std::strtoll(digits.c_str(), &end, 10);
  if (end == digits.c_str() || ms < 0) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

}  // namespace kvc::store
