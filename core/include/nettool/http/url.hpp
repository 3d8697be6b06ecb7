#pragma once
// URLs as users type them, checked by libcurl's own parser (CURLU), so what nettool accepts is
// exactly what the engine will fetch. A URL without a scheme is http (nettool-get(1)).
#include <cstdint>
#include <nettool/error.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace nettool::http {

struct Url {
    std::string text;   // the normalized URL, with its scheme ("http://example.com/")
    // The same without a password (user:PASS@ becomes user@): what messages, JSON, the registry
    // and .part.meta show and keep. `text` goes to libcurl only.
    std::string shown;
    std::string scheme; // lower case: "http", "https", "ftp", "ftps", "file"
    std::string host;   // empty for file:
    std::optional<std::uint16_t> port; // when written in the URL
    std::string path;                  // "/dir/name.tar.gz" (still percent-encoded)
    std::string query;                 // without '?'
    bool has_credentials = false;      // user[:password]@ in the URL
};

// A usage error (exit 2) naming the URL when it is malformed, empty, or its scheme is not one
// the engine fetches (http, https, ftp, ftps, file).
Result<Url> parse_url(std::string_view text);

// A usage error (exit 2) naming the proxy when libcurl could not use it: malformed, a port
// outside 1-65535, or a scheme other than http, https, socks4, socks4a, socks5, socks5h. A
// proxy without a scheme is http, as libcurl takes it.
Status check_proxy_url(std::string_view text);

// `url` without the password of its user:password@ part (unchanged when it has none, or when
// it cannot be parsed): a URL that a redirect led to carries the -u credentials in libcurl's
// effective URL, and must not show them in a message.
std::string without_password(std::string_view url);

// The path of a URL libcurl itself produced (where a redirect led), "/" when it has none.
std::string path_of_url(std::string_view url);

} // namespace nettool::http
