// Fuzz target: the no-proxy list (connect --noproxy, NO_PROXY; proxy.hpp). The first line is
// the host, the rest the list. A list holding the host matches it; a match survives more
// entries; names match without regard to case; "*" alone matches every host.
#include "fuzz_check.hpp"

#include <algorithm>
#include <cctype>
#include <nettool/proxy.hpp>
#include <nettool/socket_address.hpp>
#include <string>

using namespace nettool;
using namespace nettool::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = as_text(data, size);
    const auto newline = text.find('\n');
    const std::string host(text.substr(0, newline));
    const std::string list(newline == std::string_view::npos ? "" : text.substr(newline + 1));
    const bool matched = no_proxy_matches(host, list);

    if (!host.empty()) FUZZ_CHECK(no_proxy_matches(host, "*"));
    // ("*" is a wildcard only as the whole list, as in curl.)
    if (matched && list != "*") FUZZ_CHECK(no_proxy_matches(host, list + ",unrelated.invalid"));

    const bool plain = !host.empty() && host.find_first_of(", \t") == std::string::npos &&
                       host.front() != '.' && host.back() != '.';
    if (plain) FUZZ_CHECK(no_proxy_matches(host, list + "," + host));
    if (plain && !SocketAddress::numeric(host)) {
        std::string upper = host;
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (!SocketAddress::numeric(upper)) FUZZ_CHECK(no_proxy_matches(upper, list) == matched);
        FUZZ_CHECK(no_proxy_matches("sub." + host, list + "," + host));
    }
    return 0;
}
