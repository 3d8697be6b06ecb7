#pragma once
// Endpoints as users write them (nettool(1)): PORT, HOST:PORT, [IPV6]:PORT,
// tcp://HOST:PORT, udp://HOST:PORT, unix:/path/to.sock, unix:@abstract-name.
#include <cstdint>
#include <nettool/error.hpp>
#include <string>
#include <string_view>

namespace nettool {

enum class Transport { tcp, udp, unix_stream };

struct Endpoint {
    Transport transport = Transport::tcp;
    // For tcp/udp: a name or a literal address without brackets. "localhost" when the user
    // gave a bare PORT; "*" means every interface (dual-stack).
    std::string host;
    std::uint16_t port = 0;
    // For unix: the path, or the abstract name (without the leading '@').
    std::string unix_path;
    bool abstract = false;

    // For messages: "127.0.0.1:80", "[::1]:80", "unix:/run/x.sock", "unix:@name".
    std::string display() const;
};

enum class PortRule { allow_zero, nonzero };

// A decimal port in 0..65535 (1..65535 with PortRule::nonzero).
Result<std::uint16_t> parse_port(std::string_view text, PortRule rule = PortRule::nonzero);

// Parses one endpoint. A bare PORT means localhost:PORT. `default_transport` is used when
// no scheme is written (-u/--udp turns tcp into udp).
Result<Endpoint> parse_endpoint(std::string_view text, Transport default_transport = Transport::tcp,
                                PortRule rule = PortRule::nonzero);

// "HOST:PORT" for literal IPv6 addresses gets its brackets: "[::1]:80".
std::string format_host_port(std::string_view host, std::uint16_t port);

struct PortRange {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
};

// "80" or "20-25" (connect -z). Ports 1..65535, first <= last.
Result<PortRange> parse_port_range(std::string_view text);

} // namespace nettool
