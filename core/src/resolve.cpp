#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <nettool/resolve.hpp>
#include <sys/un.h>

namespace nettool {
namespace {

std::string_view family_words(Family family) {
    switch (family) {
    case Family::ipv4:
        return " to an IPv4 address";
    case Family::ipv6:
        return " to an IPv6 address";
    case Family::any:
        break;
    }
    return "";
}

struct AddrinfoDeleter {
    void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};

// A numeric address without port; nullopt when `text` is not one.
std::optional<SockAddr> numeric_address(const std::string& text) {
    SockAddr addr;
    auto* v4 = reinterpret_cast<sockaddr_in*>(addr.get());
    if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        addr.length = sizeof(sockaddr_in);
        return addr;
    }
    addr = SockAddr{};
    auto* v6 = reinterpret_cast<sockaddr_in6*>(addr.get());
    if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        addr.length = sizeof(sockaddr_in6);
        return addr;
    }
    return std::nullopt;
}

} // namespace

std::string format_address(const SockAddr& addr) {
    char text[INET6_ADDRSTRLEN] = "";
    switch (addr.family()) {
    case AF_INET:
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr.get())->sin_addr, text,
                    sizeof text);
        return text;
    case AF_INET6:
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr.get())->sin6_addr, text,
                    sizeof text);
        return text;
    case AF_UNIX: {
        const auto* un = reinterpret_cast<const sockaddr_un*>(addr.get());
        const auto offset = offsetof(sockaddr_un, sun_path);
        if (addr.length <= offset) return "unix:(unnamed)";
        const std::size_t size = addr.length - offset;
        if (un->sun_path[0] == '\0') return "unix:@" + std::string(un->sun_path + 1, size - 1);
        return "unix:" + std::string(un->sun_path, strnlen(un->sun_path, size));
    }
    default:
        return fmt::format("(address family {})", addr.family());
    }
}

void set_port(SockAddr& addr, std::uint16_t port) {
    if (addr.family() == AF_INET)
        reinterpret_cast<sockaddr_in*>(addr.get())->sin_port = htons(port);
    else if (addr.family() == AF_INET6)
        reinterpret_cast<sockaddr_in6*>(addr.get())->sin6_port = htons(port);
}

std::uint16_t port_of(const SockAddr& addr) {
    if (addr.family() == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in*>(addr.get())->sin_port);
    if (addr.family() == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(addr.get())->sin6_port);
    return 0;
}

std::string format_sockaddr(const SockAddr& addr) {
    if (addr.family() != AF_INET && addr.family() != AF_INET6) return format_address(addr);
    return format_host_port(format_address(addr), port_of(addr));
}

SockAddr unix_sockaddr(const Endpoint& endpoint) {
    SockAddr addr;
    auto* un = reinterpret_cast<sockaddr_un*>(addr.get());
    un->sun_family = AF_UNIX;
    // parse_endpoint already limited the path to 107 bytes.
    const std::size_t size = std::min(endpoint.unix_path.size(), sizeof un->sun_path - 1);
    const std::size_t start = endpoint.abstract ? 1 : 0; // abstract names begin with a NUL
    std::memcpy(un->sun_path + start, endpoint.unix_path.data(),
                std::min(size, sizeof un->sun_path - start));
    addr.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + start + size +
                                         (endpoint.abstract ? 0 : 1));
    return addr;
}

Result<std::vector<SockAddr>> resolve(const std::string& host, std::uint16_t port,
                                      Transport transport, Family family) {
    addrinfo hints{};
    hints.ai_family = family == Family::ipv4   ? AF_INET
                      : family == Family::ipv6 ? AF_INET6
                                               : AF_UNSPEC;
    hints.ai_socktype = transport == Transport::udp ? SOCK_DGRAM : SOCK_STREAM;
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
    std::unique_ptr<addrinfo, AddrinfoDeleter> owner(list);
    if (rc != 0) {
        std::string reason = rc == EAI_SYSTEM ? errno_text(errno) : lower_first(::gai_strerror(rc));
        if (rc == EAI_ADDRFAMILY || (rc == EAI_NONAME && family != Family::any)) {
            reason = fmt::format("{}; try without -4/-6", reason);
        }
        return fail(ErrorKind::network,
                    fmt::format("cannot resolve '{}'{}: {}", host, family_words(family), reason));
    }
    std::vector<SockAddr> out;
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(sockaddr_storage)) {
            continue;
        }
        SockAddr addr;
        std::memcpy(&addr.storage, ai->ai_addr, ai->ai_addrlen);
        addr.length = ai->ai_addrlen;
        set_port(addr, port);
        const bool seen = std::any_of(out.begin(), out.end(), [&](const SockAddr& other) {
            return other.length == addr.length &&
                   std::memcmp(&other.storage, &addr.storage, addr.length) == 0;
        });
        if (!seen) out.push_back(addr);
    }
    if (out.empty()) {
        return fail(ErrorKind::network, fmt::format("cannot resolve '{}'{}: no address found", host,
                                                    family_words(family)));
    }
    return out;
}

std::vector<SockAddr> interleave_families(const std::vector<SockAddr>& addresses) {
    if (addresses.empty()) return {};
    const int first_family = addresses.front().family();
    std::vector<SockAddr> preferred;
    std::vector<SockAddr> other;
    for (const auto& addr : addresses)
        (addr.family() == first_family ? preferred : other).push_back(addr);
    std::vector<SockAddr> out;
    out.reserve(addresses.size());
    for (std::size_t i = 0; i < std::max(preferred.size(), other.size()); ++i) {
        if (i < preferred.size()) out.push_back(preferred[i]);
        if (i < other.size()) out.push_back(other[i]);
    }
    return out;
}

Result<SourceAddress> parse_source_address(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return fail(ErrorKind::usage,
                    fmt::format("bad source address '{}': {}; write ADDR, ADDR:PORT, "
                                "[IPV6]:PORT or :PORT with a numeric address",
                                text, why));
    };
    std::string host;
    std::string_view port_text;
    if (text.starts_with("[")) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return bad("missing ']'");
        host = std::string(text.substr(1, close - 1));
        const auto after = text.substr(close + 1);
        if (!after.empty()) {
            if (!after.starts_with(":")) return bad("expected ':PORT' after ']'");
            port_text = after.substr(1);
            if (port_text.empty()) return bad("the port is empty");
        }
    } else if (std::count(text.begin(), text.end(), ':') > 1) {
        host = std::string(text); // a bare IPv6 address
    } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (port_text.empty()) return bad("the port is empty");
    } else {
        host = std::string(text);
    }
    SourceAddress source;
    if (!port_text.empty()) {
        auto port = parse_port(port_text, PortRule::allow_zero);
        if (!port) return bad(port.error().message);
        source.port = *port;
    }
    if (host.empty()) {
        if (port_text.empty()) return bad("it is empty");
        return source;
    }
    auto addr = numeric_address(host);
    if (!addr) return bad(fmt::format("'{}' is not a numeric IPv4 or IPv6 address", host));
    source.address = *addr;
    return source;
}

std::optional<SockAddr> source_for_family(const SourceAddress& source, int family) {
    SockAddr addr;
    if (source.address) {
        if (source.address->family() != family) return std::nullopt;
        addr = *source.address;
    } else if (family == AF_INET) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(addr.get());
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        addr.length = sizeof(sockaddr_in);
    } else if (family == AF_INET6) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(addr.get());
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
        addr.length = sizeof(sockaddr_in6);
    } else {
        return std::nullopt;
    }
    set_port(addr, source.port);
    return addr;
}

} // namespace nettool
