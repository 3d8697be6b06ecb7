#pragma once
// The one socket-address type of nettool: any family (IPv4, IPv6, Unix) with its length, and
// the text forms messages and events use. Resolving names lives in resolve.hpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>

namespace nettool {

struct Endpoint;

class SocketAddress {
  public:
    SocketAddress() = default;
    SocketAddress(const sockaddr* addr, socklen_t length);

    // The local (getsockname) or remote (getpeername) address of a socket; empty on failure.
    static SocketAddress local_of(int fd);
    static SocketAddress peer_of(int fd);
    // A numeric IPv4 or IPv6 address ("127.0.0.1", "::1") with a port; nullopt for anything
    // else (names are resolve()'s job).
    static std::optional<SocketAddress> numeric(std::string_view text, std::uint16_t port = 0);
    // The wildcard (0.0.0.0, ::) or the loopback (127.0.0.1, ::1) of AF_INET or AF_INET6.
    static SocketAddress any(int family, std::uint16_t port);
    static SocketAddress loopback(int family, std::uint16_t port);
    // A unix endpoint's address: its path, or its abstract name (a NUL, then exactly the name).
    static SocketAddress unix_socket(const Endpoint& endpoint);

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&m_storage); }
    // For accept(), getsockname() and the like: fill get_mutable(), then set_length().
    sockaddr* get_mutable() { return reinterpret_cast<sockaddr*>(&m_storage); }
    socklen_t length() const { return m_length; }
    void set_length(socklen_t length);
    socklen_t capacity() const { return sizeof m_storage; }
    int family() const { return m_length > 0 ? m_storage.ss_family : AF_UNSPEC; }
    bool empty() const { return m_length == 0; }

    // "127.0.0.1", "::1" (IPv4-mapped IPv6 shown as IPv4), "/run/x.sock", "@name", or "" for an
    // unnamed Unix socket.
    std::string host() const;
    std::uint16_t port() const; // 0 for Unix sockets
    void set_port(std::uint16_t port);
    // As endpoints are written: "127.0.0.1:80", "[::1]:80", "unix:/run/x.sock", "unix:@name"
    // ("unix:(unnamed)" for a client socket that has no name).
    std::string display() const;
    // True for ::ffff:a.b.c.d (an IPv4 peer on a dual-stack socket).
    bool is_v4_mapped() const;

    bool operator==(const SocketAddress& other) const;

  private:
    sockaddr_storage m_storage{};
    socklen_t m_length = 0;
};

} // namespace nettool
