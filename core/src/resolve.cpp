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

std::string_view purpose_words(ResolveFor purpose) {
    return purpose == ResolveFor::listening ? " to listen on" : "";
}

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

// Listening on "*" or "localhost" needs no resolver (see ResolveFor::listening).
std::optional<std::vector<SocketAddress>> listening_shorthand(const std::string& host,
                                                              std::uint16_t port, Family family) {
    if (host == "*") {
        if (family == Family::ipv4) return std::vector{SocketAddress::any(AF_INET, port)};
        return std::vector{SocketAddress::any(AF_INET6, port)};
    }
    if (host == "localhost") {
        std::vector<SocketAddress> out;
        if (family != Family::ipv6) out.push_back(SocketAddress::loopback(AF_INET, port));
        if (family != Family::ipv4) out.push_back(SocketAddress::loopback(AF_INET6, port));
        return out;
    }
    return std::nullopt;
}

} // namespace

Result<std::vector<SocketAddress>> resolve(const std::string& host, std::uint16_t port,
                                           Transport transport, Family family, ResolveFor purpose) {
    if (purpose == ResolveFor::listening) {
        if (auto shorthand = listening_shorthand(host, port, family)) return *shorthand;
    }
    addrinfo hints{};
    hints.ai_family = family == Family::ipv4   ? AF_INET
                      : family == Family::ipv6 ? AF_INET6
                                               : AF_UNSPEC;
    hints.ai_socktype = transport == Transport::udp ? SOCK_DGRAM : SOCK_STREAM;
    // No AI_ADDRCONFIG: a loopback-only host must still get ::1 for a name that has it.
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
    std::unique_ptr<addrinfo, AddrinfoDeleter> owner(list);
    if (rc != 0) {
        std::string reason = rc == EAI_SYSTEM ? errno_text(errno) : lower_first(::gai_strerror(rc));
        if (rc == EAI_ADDRFAMILY || (rc == EAI_NONAME && family != Family::any)) {
            reason = fmt::format("{}; try without -4/-6", reason);
        }
        if (purpose == ResolveFor::listening) reason += "; check the host name or give an address";
        return fail(ErrorKind::network,
                    fmt::format("cannot resolve '{}'{}{}: {}", host, purpose_words(purpose),
                                family_words(family), reason));
    }
    std::vector<SocketAddress> out;
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(sockaddr_storage)) {
            continue;
        }
        SocketAddress addr(ai->ai_addr, ai->ai_addrlen);
        addr.set_port(port);
        if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
    }
    if (out.empty()) {
        return fail(ErrorKind::network,
                    fmt::format("cannot resolve '{}'{}{}: it has no IPv4 or IPv6 address", host,
                                purpose_words(purpose), family_words(family)));
    }
    return out;
}

std::vector<SocketAddress> interleave_families(const std::vector<SocketAddress>& addresses) {
    if (addresses.empty()) return {};
    const int first_family = addresses.front().family();
    std::vector<SocketAddress> preferred;
    std::vector<SocketAddress> other;
    for (const auto& addr : addresses)
        (addr.family() == first_family ? preferred : other).push_back(addr);
    std::vector<SocketAddress> out;
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
    auto addr = SocketAddress::numeric(host);
    if (!addr) return bad(fmt::format("'{}' is not a numeric IPv4 or IPv6 address", host));
    source.address = *addr;
    return source;
}

std::optional<SocketAddress> source_for_family(const SourceAddress& source, int family) {
    if (family != AF_INET && family != AF_INET6) return std::nullopt;
    SocketAddress addr = SocketAddress::any(family, 0);
    if (source.address) {
        if (source.address->family() != family) return std::nullopt;
        addr = *source.address;
    }
    addr.set_port(source.port);
    return addr;
}

} // namespace nettool
