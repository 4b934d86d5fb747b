// A one-shot HTTP/1.1 GET on 127.0.0.1 for health probes, with a deadline.
#pragma once

#include <chrono>
#include <string>

namespace kvc::local {

// The response status code of GET `path`, or 0 when nothing answered in `timeout`.
int HttpGetStatus(int port, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace kvc::local
