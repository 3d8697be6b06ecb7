#include <algorithm>
#include <arpa/inet.h>
#include <cstddef>
#include <cstring>
#include <netinet/in.h>
#include <nettool/endpoint.hpp>
#include <nettool/socket_address.hpp>
#include <sys/un.h>

namespace nettool {

SocketAddress::SocketAddress(const sockaddr* addr, socklen_t length) {
    m_length = std::min<socklen_t>(length, sizeof m_storage);
    std::memcpy(&m_storage, addr, m_length);
}

void SocketAddress::set_length(socklen_t length) {
    m_length = std::min<socklen_t>(length, sizeof m_storage);
}

SocketAddress SocketAddress::local_of(int fd) {
    SocketAddress a;
    a.m_length = sizeof a.m_storage;
    if (::getsockname(fd, a.get_mutable(), &a.m_length) != 0) a.m_length = 0;
    return a;
}

SocketAddress SocketAddress::peer_of(int fd) {
    SocketAddress a;
    a.m_length = sizeof a.m_storage;
    if (::getpeername(fd, a.get_mutable(), &a.m_length) != 0) a.m_length = 0;
    return a;
}

std::optional<SocketAddress> SocketAddress::numeric(std::string_view text, std::uint16_t port) {
    const std::string copy(text); // inet_pton needs a terminated string
    sockaddr_in v4{};
    if (::inet_pton(AF_INET, copy.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        return SocketAddress(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
    }
    sockaddr_in6 v6{};
    if (::inet_pton(AF_INET6, copy.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        return SocketAddress(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
    }
    return std::nullopt;
}

namespace {

// An AF_INET6 address when asked for one, else AF_INET.
SocketAddress ip_address(int family, std::uint16_t port, in_addr_t v4, const in6_addr& v6) {
    if (family == AF_INET6) {
        sockaddr_in6 in6{};
        in6.sin6_family = AF_INET6;
        in6.sin6_addr = v6;
        in6.sin6_port = htons(port);
        return SocketAddress(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
    }
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(v4);
    in.sin_port = htons(port);
    return SocketAddress(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

} // namespace

SocketAddress SocketAddress::any(int family, std::uint16_t port) {
    return ip_address(family, port, INADDR_ANY, in6addr_any);
}

SocketAddress SocketAddress::loopback(int family, std::uint16_t port) {
    return ip_address(family, port, INADDR_LOOPBACK, in6addr_loopback);
}

SocketAddress SocketAddress::unix_socket(const Endpoint& endpoint) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    // parse_endpoint limits the path to what fits; the cut here only guards the buffer.
    const std::size_t start = endpoint.abstract ? 1 : 0; // abstract names begin with a NUL
    const std::size_t size = std::min(endpoint.unix_path.size(), sizeof un.sun_path - 1 - start);
    std::memcpy(un.sun_path + start, endpoint.unix_path.data(), size);
    // A path is counted with its terminating NUL; an abstract name is exactly its bytes.
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + start + size +
                                               (endpoint.abstract ? 0 : 1));
    return SocketAddress(reinterpret_cast<const sockaddr*>(&un), length);
}

bool SocketAddress::is_v4_mapped() const {
    if (family() != AF_INET6) return false;
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&m_storage);
    return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
}

std::string SocketAddress::host() const {
    char text[INET6_ADDRSTRLEN] = {};
    switch (family()) {
    case AF_INET: {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&m_storage);
        ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return text;
    }
    case AF_INET6: {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&m_storage);
        if (is_v4_mapped()) {
            ::inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
        } else {
            ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        }
        return text;
    }
    case AF_UNIX: {
        const auto* un = reinterpret_cast<const sockaddr_un*>(&m_storage);
        const auto offset = offsetof(sockaddr_un, sun_path);
        if (m_length <= offset) return "";
        const std::size_t size = m_length - offset;
        if (un->sun_path[0] == '\0') {
            // Built by append: GCC 12 at -O3 warns (-Wrestrict) about "@" + std::string(...).
            std::string name = "@";
            name.append(un->sun_path + 1, size - 1);
            return name;
        }
        return std::string(un->sun_path, strnlen(un->sun_path, size));
    }
    default:
        return "";
    }
}

std::uint16_t SocketAddress::port() const {
    if (family() == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_port);
    if (family() == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_port);
    return 0;
}

void SocketAddress::set_port(std::uint16_t port) {
    if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&m_storage)->sin_port = htons(port);
    if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&m_storage)->sin6_port = htons(port);
}

std::string SocketAddress::display() const {
    if (family() == AF_INET || family() == AF_INET6) return format_host_port(host(), port());
    if (family() == AF_UNIX) {
        const std::string name = host();
        return name.empty() ? "unix:(unnamed)" : "unix:" + name;
    }
    return "(no address)";
}

bool SocketAddress::operator==(const SocketAddress& other) const {
    return m_length == other.m_length && std::memcmp(&m_storage, &other.m_storage, m_length) == 0;
}

} // namespace nettool
