// How a put reads a master's refusal during a take-over. Pure functions.
#pragma once

#include <chrono>
#include <optional>

#include "kvc/common/status.h"

namespace kvc::store {

// A new leader's TAKEOVER_GRACE refusal says how long it still allocates
// nothing ("... for another N ms ..."). That time, or nullopt when `s` is not
// such a refusal or does not say.
std::optional<std::chrono::milliseconds> GraceLeft(const Status& s);

}  // namespace kvc::store
