// The PROXY protocol, versions 1 (a text line) and 2 (binary), as HAProxy's
// doc/proxy-protocol.txt specifies them; see proxy_header.hpp.
#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <nettool/proxy_header.hpp>
#include <string_view>
#include <vector>

namespace nettool {
namespace {

constexpr std::string_view k_v1_prefix = "PROXY ";
constexpr std::array<std::uint8_t, 12> k_v2_signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t k_v2_fixed = 16;

tl::unexpected<Error> malformed(std::string what) {
    return fail(ErrorKind::protocol, fmt::format("malformed PROXY protocol header: {}", what));
}

SocketAddress inet_address(int family, const std::uint8_t* bytes, std::uint16_t port) {
    if (family == AF_INET) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        std::memcpy(&in.sin_addr, bytes, 4);
        in.sin_port = htons(port);
        return SocketAddress(reinterpret_cast<const sockaddr*>(&in), sizeof in);
    }
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    std::memcpy(&in6.sin6_addr, bytes, 16);
    in6.sin6_port = htons(port);
    return SocketAddress(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
}

// A decimal port as v1 writes it: 0..65535, no sign, no leading zero.
std::optional<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return {};
    unsigned value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return {};
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return {};
    return static_cast<std::uint16_t>(value);
}

std::vector<std::string_view> split_spaces(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t start = 0;
    while (true) {
        const std::size_t space = line.find(' ', start);
        words.push_back(line.substr(start, space - start));
        if (space == std::string_view::npos) return words;
        start = space + 1;
    }
}

// One v1 address (inet_pton rejects IPv4 leading zeros and anything but the family's form).
std::optional<SocketAddress> v1_address(int family, std::string_view text, std::uint16_t port) {
    if (text.empty() || text.size() > 45) return {};
    const std::string copy(text);
    std::array<std::uint8_t, 16> bytes{};
    if (::inet_pton(family, copy.c_str(), bytes.data()) != 1) return {};
    return inet_address(family, bytes.data(), port);
}

Result<ProxyScan> scan_v1(std::string_view text) {
    const std::size_t prefix = std::min(text.size(), k_v1_prefix.size());
    if (text.substr(0, prefix) != k_v1_prefix.substr(0, prefix))
        return malformed("it starts with neither \"PROXY \" nor the version 2 signature");
    const std::size_t end = text.find_first_of("\r\n");
    if (end == std::string_view::npos) {
        if (text.size() >= k_proxy_v1_max)
            return malformed(fmt::format("no CRLF within {} bytes", k_proxy_v1_max));
        return ProxyScan{std::nullopt, text.size()};
    }
    if (end + 2 > k_proxy_v1_max)
        return malformed(fmt::format("no CRLF within {} bytes", k_proxy_v1_max));
    if (text[end] != '\r') return malformed("a line feed without a carriage return");
    if (end + 1 == text.size()) return ProxyScan{std::nullopt, text.size()}; // the LF is next
    if (text[end + 1] != '\n') return malformed("a carriage return without a line feed");
    if (end < k_v1_prefix.size()) return malformed("the line ends inside \"PROXY \"");

    ProxyHeader header;
    header.length = end + 2;
    const auto words = split_spaces(text.substr(k_v1_prefix.size(), end - k_v1_prefix.size()));
    if (words[0] == "UNKNOWN") return ProxyScan{header, 0}; // the rest of the line is ignored
    int family = 0;
    if (words[0] == "TCP4") family = AF_INET;
    if (words[0] == "TCP6") family = AF_INET6;
    if (family == 0) {
        return malformed(fmt::format("the protocol is \"{}\", not TCP4, TCP6 or UNKNOWN",
                                     std::string(words[0].substr(0, 16))));
    }
    if (words.size() != 5)
        return malformed("a TCP line has two addresses and two ports, single-spaced");
    const auto source_port = parse_port(words[3]);
    const auto destination_port = parse_port(words[4]);
    if (!source_port || !destination_port) return malformed("a port is not a number to 65535");
    header.source = v1_address(family, words[1], *source_port);
    header.destination = v1_address(family, words[2], *destination_port);
    if (!header.source || !header.destination) {
        return malformed(fmt::format("an address is not a valid {} address",
                                     family == AF_INET ? "IPv4" : "IPv6"));
    }
    return ProxyScan{header, 0};
}

std::uint16_t be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

Result<ProxyScan> scan_v2(std::span<const std::uint8_t> start) {
    const std::size_t prefix = std::min(start.size(), k_v2_signature.size());
    if (!std::equal(start.begin(), start.begin() + static_cast<std::ptrdiff_t>(prefix),
                    k_v2_signature.begin()))
        return malformed("it starts with neither \"PROXY \" nor the version 2 signature");
    if (start.size() < k_v2_fixed) return ProxyScan{std::nullopt, start.size()};
    const std::uint8_t version_command = start[12];
    const std::uint8_t family_protocol = start[13];
    if ((version_command >> 4) != 2)
        return malformed(fmt::format("version {} (only 2 is binary)", version_command >> 4));
    const unsigned command = version_command & 0x0F;
    if (command > 1) return malformed(fmt::format("unknown command {}", command));
    const unsigned family = family_protocol >> 4;
    const unsigned protocol = family_protocol & 0x0F;
    if (family > 3 || protocol > 2)
        return malformed(fmt::format("unknown address family and protocol 0x{:02x}",
                                     static_cast<unsigned>(family_protocol)));
    const std::size_t total = k_v2_fixed + be16(&start[14]);
    if (total > k_proxy_v2_max) {
        return malformed(
            fmt::format("{} bytes long, more than the {} accepted", total, k_proxy_v2_max));
    }
    if (start.size() < total) return ProxyScan{std::nullopt, start.size()};

    ProxyHeader header;
    header.length = total;
    header.local = command == 0;
    // LOCAL: the addresses (if any) are ignored; UNSPEC family or protocol: likewise; Unix
    // addresses are skipped too (the connection's own addresses stand), TLVs always.
    if (header.local || family == 0 || protocol == 0) return ProxyScan{header, 0};
    const std::size_t needed = family == 1 ? 12 : family == 2 ? 36 : 216;
    if (total - k_v2_fixed < needed) {
        return malformed(fmt::format("{} bytes of addresses where the family needs {}",
                                     total - k_v2_fixed, needed));
    }
    if (family == 3) return ProxyScan{header, 0};
    const std::uint8_t* a = &start[k_v2_fixed];
    const std::size_t size = family == 1 ? 4 : 16;
    const int af = family == 1 ? AF_INET : AF_INET6;
    header.source = inet_address(af, a, be16(a + 2 * size));
    header.destination = inet_address(af, a + size, be16(a + 2 * size + 2));
    return ProxyScan{header, 0};
}

// The address as IPv4 (4 bytes) or IPv6 (16), an IPv4-mapped IPv6 address as IPv4.
struct Raw {
    int family = AF_UNSPEC;
    std::array<std::uint8_t, 16> bytes{};
};

Raw raw_of(const SocketAddress& address, bool unmap = true) {
    Raw raw;
    if (address.family() == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(address.get());
        raw.family = AF_INET;
        std::memcpy(raw.bytes.data(), &in->sin_addr, 4);
    } else if (address.family() == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address.get());
        if (unmap && address.is_v4_mapped()) {
            raw.family = AF_INET;
            std::memcpy(raw.bytes.data(),
                        reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr) + 12, 4);
        } else {
            raw.family = AF_INET6;
            std::memcpy(raw.bytes.data(), &in6->sin6_addr, 16);
        }
    }
    return raw;
}

} // namespace

Result<ProxyScan> scan_proxy_header(std::span<const std::uint8_t> start) {
    if (start.empty()) return ProxyScan{};
    if (start[0] == 'P') {
        const std::string_view text(reinterpret_cast<const char*>(start.data()),
                                    std::min(start.size(), k_proxy_v1_max + 1));
        return scan_v1(text);
    }
    return scan_v2(start);
}

std::string format_proxy_header(ProxyVersion version, const SocketAddress& source,
                                const SocketAddress& destination) {
    Raw from = raw_of(source);
    Raw to = raw_of(destination);
    // Two IPv6 addresses of which one only is IPv4-mapped stay IPv6 (v4 needs both).
    if (from.family != to.family && source.family() == AF_INET6 &&
        destination.family() == AF_INET6) {
        from = raw_of(source, false);
        to = raw_of(destination, false);
    }
    const bool inet = from.family != AF_UNSPEC && from.family == to.family;
    if (version == ProxyVersion::v1) {
        if (!inet) return "PROXY UNKNOWN\r\n";
        char a[INET6_ADDRSTRLEN] = "";
        char b[INET6_ADDRSTRLEN] = "";
        ::inet_ntop(from.family, from.bytes.data(), a, sizeof a);
        ::inet_ntop(to.family, to.bytes.data(), b, sizeof b);
        return fmt::format("PROXY {} {} {} {} {}\r\n", from.family == AF_INET ? "TCP4" : "TCP6", a,
                           b, source.port(), destination.port());
    }
    std::string out(reinterpret_cast<const char*>(k_v2_signature.data()), k_v2_signature.size());
    out += static_cast<char>(0x21); // version 2, PROXY
    if (!inet) {
        out += std::string("\x00\x00\x00", 3); // UNSPEC, no addresses
        return out;
    }
    const std::size_t size = from.family == AF_INET ? 4 : 16;
    out += static_cast<char>(from.family == AF_INET ? 0x11 : 0x21); // TCP over IPv4 / IPv6
    const std::size_t length = 2 * size + 4;
    out += static_cast<char>(length >> 8);
    out += static_cast<char>(length & 0xFF);
    out.append(reinterpret_cast<const char*>(from.bytes.data()), size);
    out.append(reinterpret_cast<const char*>(to.bytes.data()), size);
    for (const std::uint16_t port : {source.port(), destination.port()}) {
        out += static_cast<char>(port >> 8);
        out += static_cast<char>(port & 0xFF);
    }
    return out;
}

} // namespace nettool
