#pragma once
// Which proxy `connect` goes through (nettool-connect(1), PROXIES). The choice follows curl's,
// so that one environment means the same to both: --proxy, else all_proxy/ALL_PROXY; no proxy
// for a host that --noproxy, else no_proxy/NO_PROXY, lists. Decided here, before any
// connection, so that a connection that goes direct never loads the HTTP library.
#include <nettool/error.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace nettool {

// Whether `host` (a name, or an IPv4/IPv6 address without brackets) is in a no-proxy list,
// by curl's rules: entries separated by commas (blanks around them ignored); "*" alone
// matches every host; a name matches an entry equal to it or to one of its parent domains
// ("example.com" and ".example.com" both match "www.example.com", not "myexample.com"),
// without regard to case or a trailing dot; an address matches an entry that is the same
// address or an address block holding it ("10.0.0.0/8", "::1").
bool no_proxy_matches(std::string_view host, std::string_view list);

// What the environment says (the lower-case name wins, as in curl); unset or empty: nullopt.
struct ProxyEnvironment {
    std::optional<std::string> all_proxy;
    std::optional<std::string> no_proxy;
    static ProxyEnvironment from_process(); // getenv
};

struct ProxyChoice {
    std::optional<std::string> proxy; // nullopt: connect directly
    std::string source;               // "--proxy" or "ALL_PROXY", for messages
};

// The proxy for a connection to `host`: `flag` is --proxy (empty: none at all, not even the
// environment's), `noproxy_flag` is --noproxy (replaces no_proxy; empty: proxy every host).
ProxyChoice choose_proxy(std::string_view host, const std::optional<std::string>& flag,
                         const std::optional<std::string>& noproxy_flag,
                         const ProxyEnvironment& environment);

// A usage error unless `url` is a proxy connect goes through: socks5:// (the proxy resolves
// names; the same as socks5h://), socks5h://, http:// (CONNECT) or no scheme (http). The
// rest of its syntax is http::check_proxy_url's to judge. `source` names where it came from.
Status check_connect_proxy_scheme(std::string_view url, std::string_view source);

} // namespace nettool
