// The library versions nettool was built against, from the build system (CMake's find_package
// of libcurl and OpenSSL): --version prints them without loading either library.
#include <fmt/format.h>
#include <nettool/http/library_info.hpp>

namespace nettool::http {
std::string built_library_versions() {
    return fmt::format("built with libcurl {} and OpenSSL {}", NETTOOL_BUILT_CURL_VERSION,
                       NETTOOL_BUILT_OPENSSL_VERSION);
}
} // namespace nettool::http
