#pragma once
// Turning what the user wrote into socket addresses: getaddrinfo for names, the RFC 8305
// address ordering for happy eyeballs, and the local address for --source.
#include <cstdint>
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

namespace nettool {

// A socket address of any family (AF_INET, AF_INET6, AF_UNIX) with its length.
struct SockAddr {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const { return storage.ss_family; }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

enum class Family { any, ipv4, ipv6 };

// "127.0.0.1:80", "[::1]:80", "unix:/path", "unix:@name".
std::string format_sockaddr(const SockAddr& addr);
// Only the address part: "127.0.0.1", "::1" (a unix path as in format_sockaddr).
std::string format_address(const SockAddr& addr);
std::uint16_t port_of(const SockAddr& addr);
// Sets the port of an AF_INET or AF_INET6 address (others are left alone).
void set_port(SockAddr& addr, std::uint16_t port);

// The address of a unix endpoint (a path, or an abstract name).
SockAddr unix_sockaddr(const Endpoint& endpoint);

// getaddrinfo() for a tcp or udp host and port. Fails (network, exit 4) with
// "cannot resolve 'nosuch.invalid': name or service not known".
Result<std::vector<SockAddr>> resolve(const std::string& host, std::uint16_t port,
                                      Transport transport, Family family);

// RFC 8305 section 4: keep the resolver's order within each family, start with the family of
// the first address, then alternate between families.
std::vector<SockAddr> interleave_families(const std::vector<SockAddr>& addresses);

// --source ADDR[:PORT]: "192.0.2.1", "192.0.2.1:5000", "::1", "[::1]:5000", ":5000" (any
// address, that port). The address must be numeric.
struct SourceAddress {
    std::optional<SockAddr> address; // port 0 inside; none means the wildcard of each family
    std::uint16_t port = 0;
};
Result<SourceAddress> parse_source_address(std::string_view text);

// The local address to bind for a connection of `family`: the source's address with its port,
// or the family's wildcard with the port. None when the source's family differs.
std::optional<SockAddr> source_for_family(const SourceAddress& source, int family);

} // namespace nettool
