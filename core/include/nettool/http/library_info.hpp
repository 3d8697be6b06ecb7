#pragma once
// The library versions --version reports (nettool(1)).
#include <nettool/error.hpp>
#include <string>

namespace nettool::http {

// The versions nettool was built against, known without loading anything (plain --version
// stays as fast as the rest of start-up): "built with libcurl 7.88.1 and OpenSSL 3.0.19".
std::string built_library_versions();

// The libraries in use, as loaded now: libcurl's version, its TLS library, the protocols it
// offers, OpenSSL's version and, in the binary, the path of the HTTP module. Loads the HTTP
// module (--version -v); its error says why the module cannot be used.
Result<std::string> loaded_library_versions();

} // namespace nettool::http
