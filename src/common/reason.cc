#include "kvc/common/reason.h"

#include <vector>

namespace kvc {

std::string_view ReasonName(Reason reason) {
  switch (reason) {
#define KVC_REASON_CASE_(id, name, number) \
  case Reason::id:                         \
    return name;
    KVC_REASONS(KVC_REASON_CASE_)
#undef KVC_REASON_CASE_
    case Reason::kUnspecified:
      break;
  }
  return "";
}

Reason ReasonFromName(std::string_view name) {
#define KVC_REASON_MATCH_(id, wire, number) \
  if (name == wire) return Reason::id;
  KVC_REASONS(KVC_REASON_MATCH_)
#undef KVC_REASON_MATCH_
  return Reason::kUnspecified;
}

const std::vector<Reason>& AllReasons() {
  static const std::vector<Reason> all = {
#define KVC_REASON_ITEM_(id, name, number) Reason::id,
      KVC_REASONS(KVC_REASON_ITEM_)
#undef KVC_REASON_ITEM_
  };
  return all;
}

Status WithReason(Status status, Reason reason) {
  if (reason == Reason::kUnspecified) return status;
  return WithReason(std::move(status), ReasonName(reason));
}

Reason ReasonCodeOf(const Status& status) { return ReasonFromName(ReasonOf(status)); }

std::ostream& operator<<(std::ostream& os, Reason reason) {
  const std::string_view name = ReasonName(reason);
  return os << (name.empty() ? std::string_view("UNSPECIFIED") : name);
}

}  // namespace kvc
