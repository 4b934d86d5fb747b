// Comparing secrets (cluster tokens, admin tokens, API keys).
#pragma once

#include <string_view>

namespace kvc {

// True when `a` equals `b`. Takes time that depends on the lengths only, never on
// where the first difference is, so timing does not leak a common prefix. The one
// token comparison of kvc: gRPC and HTTP bearer tokens, the transfer TCP target
// and the shared-memory export handshake.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace kvc
