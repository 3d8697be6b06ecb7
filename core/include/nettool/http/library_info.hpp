#pragma once
#include <string>

namespace nettool::http {
// "libcurl 7.88.1 (OpenSSL/3.0.19), protocols: ..." for --version.
std::string library_versions();
} // namespace nettool::http
