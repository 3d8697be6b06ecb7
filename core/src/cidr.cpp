#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <nettool/cidr.hpp>

namespace nettool {
namespace {

// The peer as (family, 16 bytes), with IPv4-mapped IPv6 turned into IPv4.
bool peer_bytes(const SocketAddress& address, int& family, std::array<std::uint8_t, 16>& bytes) {
    bytes.fill(0);
    if (address.family() == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(address.get());
        family = AF_INET;
        std::memcpy(bytes.data(), &in->sin_addr, 4);
        return true;
    }
    if (address.family() == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.get());
        if (address.is_v4_mapped()) {
            family = AF_INET;
            std::memcpy(bytes.data(), &in6->sin6_addr.s6_addr[12], 4);
        } else {
            family = AF_INET6;
            std::memcpy(bytes.data(), &in6->sin6_addr, 16);
        }
        return true;
    }
    return false;
}

void clear_host_bits(std::array<std::uint8_t, 16>& bytes, int prefix) {
    for (int i = 0; i < 16; ++i) {
        const int keep = std::clamp(prefix - i * 8, 0, 8);
        bytes[i] &= static_cast<std::uint8_t>(0xff00u >> keep);
    }
}

} // namespace

Result<Cidr> parse_cidr(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return fail(ErrorKind::usage,
                    fmt::format("bad address block '{}': {}; write ADDR/PREFIX such as "
                                "10.0.0.0/8 or fd00::/8, or a single address",
                                text, why));
    };
    Cidr cidr;
    cidr.text = std::string(text);
    const auto slash = text.find('/');
    const std::string address(text.substr(0, slash));
    if (::inet_pton(AF_INET, address.c_str(), cidr.bytes.data()) == 1) {
        cidr.family = AF_INET;
        cidr.prefix = 32;
    } else if (::inet_pton(AF_INET6, address.c_str(), cidr.bytes.data()) == 1) {
        cidr.family = AF_INET6;
        cidr.prefix = 128;
    } else {
        return bad(fmt::format("'{}' is not an IPv4 or IPv6 address", address));
    }
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        int prefix = -1;
        const auto [ptr, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || ec != std::errc{} || ptr != digits.data() + digits.size() ||
            prefix < 0 || prefix > cidr.prefix) {
            return bad(fmt::format("the prefix length must be a number from 0 to {}", cidr.prefix));
        }
        cidr.prefix = prefix;
    }
    // ::ffff:10.0.0.0/104 is the IPv4 block 10.0.0.0/8: match it as IPv4, like the peers.
    static constexpr std::uint8_t k_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (cidr.family == AF_INET6 && cidr.prefix >= 96 &&
        std::memcmp(cidr.bytes.data(), k_mapped, 12) == 0) {
        std::memmove(cidr.bytes.data(), cidr.bytes.data() + 12, 4);
        std::fill(cidr.bytes.begin() + 4, cidr.bytes.end(), std::uint8_t{0});
        cidr.family = AF_INET;
        cidr.prefix -= 96;
    }
    clear_host_bits(cidr.bytes, cidr.prefix);
    return cidr;
}

bool Cidr::contains(const SocketAddress& address) const {
    int peer_family = 0;
    std::array<std::uint8_t, 16> peer{};
    if (!peer_bytes(address, peer_family, peer) || peer_family != family) return false;
    clear_host_bits(peer, prefix);
    return peer == bytes;
}

bool AccessRules::permits(const SocketAddress& peer) const {
    if (peer.family() != AF_INET && peer.family() != AF_INET6) return true;
    const auto matches = [&](const Cidr& c) { return c.contains(peer); };
    if (std::any_of(deny.begin(), deny.end(), matches)) return false;
    return allow.empty() || std::any_of(allow.begin(), allow.end(), matches);
}

} // namespace nettool
