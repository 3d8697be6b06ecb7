#pragma once
// Address blocks for serve --allow/--deny: "10.0.0.0/8", "::1/128", or a bare address (one
// host). An IPv4-mapped IPv6 peer (::ffff:a.b.c.d, what a dual-stack socket reports for an
// IPv4 client) is matched as the IPv4 address it is.
#include <array>
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/socket_address.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

struct Cidr {
    int family = 0;                       // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> bytes{}; // network order; the first 4 for IPv4; host bits zero
    int prefix = 0;
    std::string text; // as the user wrote it, for messages

    bool contains(const SocketAddress& address) const;
};

// Host bits beyond the prefix are ignored ("10.1.2.3/8" is 10.0.0.0/8), as iptables does.
Result<Cidr> parse_cidr(std::string_view text);

// --allow and --deny together: a peer is let in when it matches no deny rule and, if there is
// any allow rule, at least one allow rule (deny wins). Unix-socket peers are always let in.
struct AccessRules {
    std::vector<Cidr> allow;
    std::vector<Cidr> deny;

    bool permits(const SocketAddress& peer) const;
    bool empty() const { return allow.empty() && deny.empty(); }
};

} // namespace nettool
