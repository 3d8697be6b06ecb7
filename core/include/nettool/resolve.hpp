#pragma once
// The one resolver: turning what the user wrote into socket addresses, for connecting (connect,
// connect -z) and for listening (serve). Also the RFC 8305 address ordering for happy eyeballs
// and the local address for --source.
#include <cstdint>
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <nettool/socket_address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

enum class Family { any, ipv4, ipv6 };

enum class ResolveFor {
    connecting,
    // Listening: "*" is the dual-stack wildcard [::] (IPV6_V6ONLY off where it is bound),
    // "localhost" is 127.0.0.1 and ::1 whatever /etc/hosts says (RFC 6761; many hosts files
    // list only 127.0.0.1).
    listening,
};

// getaddrinfo() for a tcp or udp host and port: IPv4 and IPv6 addresses in the resolver's
// order, without duplicates. Fails (network, exit 4) with a sentence naming the host:
// "cannot resolve 'nosuch.invalid': name or service not known".
Result<std::vector<SocketAddress>> resolve(const std::string& host, std::uint16_t port,
                                           Transport transport, Family family,
                                           ResolveFor purpose = ResolveFor::connecting);

// RFC 8305 section 4: keep the resolver's order within each family, start with the family of
// the first address, then alternate between families.
std::vector<SocketAddress> interleave_families(const std::vector<SocketAddress>& addresses);

// --source ADDR[:PORT]: "192.0.2.1", "192.0.2.1:5000", "::1", "[::1]:5000", ":5000" (any
// address, that port). The address must be numeric.
struct SourceAddress {
    std::optional<SocketAddress> address; // port 0 inside; none: the wildcard of each family
    std::uint16_t port = 0;
};
Result<SourceAddress> parse_source_address(std::string_view text);

// The local address to bind for a connection of `family`: the source's address with its port,
// or the family's wildcard with the port. None when the source's family differs.
std::optional<SocketAddress> source_for_family(const SourceAddress& source, int family);

} // namespace nettool
