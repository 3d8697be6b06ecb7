// The versions of the libraries the HTTP module loaded (--version -v).
#include <curl/curl.h>
#include <fmt/format.h>
#include <nettool/http/library_info.hpp>
#include <openssl/crypto.h>
#include <string>

namespace nettool::http {
Result<std::string> loaded_library_versions() {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    std::string protocols;
    for (const char* const* p = info->protocols; p != nullptr && *p != nullptr; ++p) {
        if (!protocols.empty()) protocols += ' ';
        protocols += *p;
    }
    return fmt::format("libcurl {}\nTLS {}\nprotocols: {}\ndigests: {}", info->version,
                       info->ssl_version != nullptr ? info->ssl_version : "none", protocols,
                       OpenSSL_version(OPENSSL_VERSION));
}
} // namespace nettool::http
