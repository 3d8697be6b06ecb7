#pragma once
#include <string>

namespace nettool::cli {
// "nettool 0.1.0" and the versions of libcurl and the TLS library.
std::string version_text();
} // namespace nettool::cli
