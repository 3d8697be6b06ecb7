#pragma once
// The PROXY protocol (HAProxy's, versions 1 and 2): the header a proxy sends first on a
// connection it opened on a client's behalf, carrying the client's address. serve
// --accept-proxy reads it (the carried address is then the peer), serve --to --send-proxy
// writes it toward the target.
//
// Reading never consumes a byte past the header (the bytes after it are the client's):
// scan_proxy_header() says how many of the bytes seen so far are surely header, so a reader
// can peek, consume that many, and peek again.
#include <cstddef>
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/socket_address.hpp>
#include <optional>
#include <span>
#include <string>

namespace nettool {

// v1's longest line with its CRLF, and the longest v2 header serve reads (16 bytes and the
// addresses and TLVs after them; the spec allows 64 KiB of TLVs, no sender needs more than a
// few hundred bytes, and a client may not make serve hold more).
inline constexpr std::size_t k_proxy_v1_max = 107;
inline constexpr std::size_t k_proxy_v2_max = 16 + 4096;

enum class ProxyVersion { v1, v2 };

struct ProxyHeader {
    // LOCAL (v2: a health check by the proxy itself) carries no address; PROXY carries one
    // unless its family is UNSPEC/UNKNOWN or not an IP family (then the receiver uses the
    // connection's own addresses, as the spec says).
    bool local = false;
    std::optional<SocketAddress> source;      // the client, as the proxy saw it
    std::optional<SocketAddress> destination; // where the client connected
    std::size_t length = 0;                   // bytes the header took
};

// What the first bytes of a connection show.
struct ProxyScan {
    // Set once the whole header is in `start`.
    std::optional<ProxyHeader> header;
    // Otherwise: how many of the bytes are surely part of the header (consume them and read
    // on); never more than the bytes given.
    std::size_t header_bytes = 0;
};

// Reads the start of a connection. Malformed (not a PROXY header, a bad address or port, a
// line or header longer than the limits above): ErrorKind::protocol with a sentence naming
// what is wrong.
Result<ProxyScan> scan_proxy_header(std::span<const std::uint8_t> start);

// The header for a connection from `source` to `destination` (both IPv4 or both IPv6, an
// IPv4-mapped IPv6 address counting as IPv4); other pairs (Unix sockets) are sent as v1
// "UNKNOWN" / v2 PROXY with the UNSPEC family.
std::string format_proxy_header(ProxyVersion version, const SocketAddress& source,
                                const SocketAddress& destination);

} // namespace nettool
