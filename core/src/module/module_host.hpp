#pragma once
// Inside the HTTP module: where the binary's calls are kept (see module_host.cpp).
#include "http_module.hpp"

namespace nettool::module {
// Called once, by nettool_http_module_open(), before anything else in the module runs.
void set_host(const HostCalls* host);
} // namespace nettool::module
