#pragma once
// A socket address of any family (IPv4, IPv6, Unix) with the text forms nettool prints.
#include <cstdint>
#include <string>
#include <sys/socket.h>

namespace nettool {

class SocketAddress {
  public:
    SocketAddress() = default;
    SocketAddress(const sockaddr* addr, socklen_t length);

    // The local (getsockname) or remote (getpeername) address of a socket; empty on failure.
    static SocketAddress local_of(int fd);
    static SocketAddress peer_of(int fd);

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&m_storage); }
    sockaddr* get_mutable() { return reinterpret_cast<sockaddr*>(&m_storage); }
    socklen_t length() const { return m_length; }
    void set_length(socklen_t length) { m_length = length; }
    socklen_t capacity() const { return sizeof m_storage; }
    int family() const { return m_length > 0 ? m_storage.ss_family : AF_UNSPEC; }
    bool empty() const { return m_length == 0; }

    // "127.0.0.1", "::1" (IPv4-mapped IPv6 shown as IPv4), "/run/x.sock", "@name", or "" for an
    // unnamed Unix socket.
    std::string host() const;
    std::uint16_t port() const; // 0 for Unix sockets
    void set_port(std::uint16_t port);
    // "127.0.0.1:80", "[::1]:80", "/run/x.sock", "@name".
    std::string display() const;
    // True for ::ffff:a.b.c.d (an IPv4 peer on a dual-stack socket).
    bool is_v4_mapped() const;

    bool operator==(const SocketAddress& other) const;

  private:
    sockaddr_storage m_storage{};
    socklen_t m_length = 0;
};

} // namespace nettool
