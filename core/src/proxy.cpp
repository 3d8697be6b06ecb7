#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>
#include <nettool/cidr.hpp>
#include <nettool/proxy.hpp>
#include <nettool/socket_address.hpp>

namespace nettool {
namespace {

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

bool name_matches(std::string_view name, std::string_view entry) {
    if (!entry.empty() && entry.back() == '.') entry.remove_suffix(1);
    if (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
    if (entry.empty()) return false;
    if (entry.size() == name.size()) return iequal(entry, name);
    // A parent domain: the entry is the name's tail, right after a dot.
    return entry.size() < name.size() && name[name.size() - entry.size() - 1] == '.' &&
           iequal(entry, name.substr(name.size() - entry.size()));
}

std::optional<std::string> environment_value(const char* lower, const char* upper) {
    for (const char* name : {lower, upper}) {
        const char* value = std::getenv(name);
        if (value != nullptr && *value != '\0') return std::string(value);
    }
    return std::nullopt;
}

} // namespace

bool no_proxy_matches(std::string_view host, std::string_view list) {
    if (host.empty() || list.empty()) return false;
    if (list == "*") return true;
    const std::optional<SocketAddress> address = SocketAddress::numeric(host);
    if (!address && host.back() == '.') host.remove_suffix(1);
    std::size_t at = 0;
    while (at < list.size()) {
        while (at < list.size() && (is_blank(list[at]) || list[at] == ','))
            ++at;
        std::size_t end = at;
        while (end < list.size() && !is_blank(list[end]) && list[end] != ',')
            ++end;
        const std::string_view entry = list.substr(at, end - at);
        at = end;
        if (entry.empty()) continue;
        if (iequal(entry, host)) return true; // also an address as written (::ffff:1.2.3.4)
        if (address) {
            auto block = parse_cidr(entry);
            if (block && block->contains(*address)) return true;
        } else if (name_matches(host, entry)) {
            return true;
        }
    }
    return false;
}

ProxyEnvironment ProxyEnvironment::from_process() {
    ProxyEnvironment environment;
    environment.all_proxy = environment_value("all_proxy", "ALL_PROXY");
    environment.no_proxy = environment_value("no_proxy", "NO_PROXY");
    return environment;
}

ProxyChoice choose_proxy(std::string_view host, const std::optional<std::string>& flag,
                         const std::optional<std::string>& noproxy_flag,
                         const ProxyEnvironment& environment) {
    ProxyChoice choice;
    if (flag) {
        if (flag->empty()) return choice;
        choice.proxy = *flag;
        choice.source = "--proxy";
    } else if (environment.all_proxy) {
        choice.proxy = *environment.all_proxy;
        choice.source = "ALL_PROXY";
    } else {
        return choice;
    }
    static const std::string none;
    const std::string& exempt = noproxy_flag ? *noproxy_flag : environment.no_proxy.value_or(none);
    if (no_proxy_matches(host, exempt)) choice.proxy.reset();
    return choice;
}

Status check_connect_proxy_scheme(std::string_view url, std::string_view source) {
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return {};
    std::string scheme(url.substr(0, sep));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme == "socks5" || scheme == "socks5h" || scheme == "http") return {};
    return fail(ErrorKind::usage,
                fmt::format("{}: connect goes through socks5:// and http:// proxies, not '{}://'; "
                            "write socks5://HOST:PORT or http://HOST:PORT",
                            source, scheme.size() > 20 ? scheme.substr(0, 20) + "..." : scheme));
}

} // namespace nettool
