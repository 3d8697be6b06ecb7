#include <nettool/endpoint.hpp>

#include <algorithm>
#include <charconv>
#include <fmt/format.h>

namespace nettool {
namespace {

constexpr std::string_view k_forms = "PORT, HOST:PORT, [IPV6]:PORT, udp://HOST:PORT or unix:/PATH";

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':' || c == '%' || c == '*';
}

Result<std::string> check_host(std::string_view whole, std::string_view host) {
    if (host.empty()) {
        return fail(ErrorKind::usage,
                    fmt::format("bad endpoint '{}': the host is empty; write HOST:PORT, or just PORT "
                                "for localhost",
                                whole));
    }
    if (!std::all_of(host.begin(), host.end(), valid_host_char) || (host.find('*') != std::string_view::npos && host != "*")) {
        return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': '{}' is not a valid host name "
                                                  "or address",
                                                  whole, host));
    }
    return std::string(host);
}

} // namespace

std::string format_host_port(std::string_view host, std::uint16_t port) {
    if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

std::string Endpoint::display() const {
    if (transport == Transport::unix_stream) return (abstract ? "unix:@" : "unix:") + unix_path;
    const std::string hp = format_host_port(host, port);
    if (transport == Transport::udp) return "udp://" + hp;
    // A host named "unix" would read back as a Unix socket path.
    return hp.starts_with("unix:") ? "tcp://" + hp : hp;
}

Result<std::uint16_t> parse_port(std::string_view text, PortRule rule) {
    if (text.empty()) {
        return fail(ErrorKind::usage, "the port is empty; give a number from 1 to 65535");
    }
    if (!all_digits(text)) {
        return fail(ErrorKind::usage, fmt::format("port '{}' is not a number; give the port as a "
                                                  "number such as 80",
                                                  text));
    }
    unsigned long value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    const unsigned long low = rule == PortRule::allow_zero ? 0 : 1;
    if (ec != std::errc{} || ptr != text.data() + text.size() || value > 65535 || value < low) {
        return fail(ErrorKind::usage, fmt::format("port {} is out of range; use a number from {} to "
                                                  "65535",
                                                  text, low));
    }
    return static_cast<std::uint16_t>(value);
}

Result<Endpoint> parse_endpoint(std::string_view text, Transport default_transport, PortRule rule) {
    if (text.empty()) {
        return fail(ErrorKind::usage, fmt::format("empty endpoint; write {}", k_forms));
    }
    Endpoint ep;
    ep.transport = default_transport;
    std::string_view rest = text;
    if (rest.starts_with("unix:")) {
        rest.remove_prefix(5);
        ep.transport = Transport::unix_stream;
        if (rest.starts_with("@")) {
            ep.abstract = true;
            rest.remove_prefix(1);
        }
        if (rest.empty()) {
            return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': the socket path is empty; "
                                                      "write unix:/PATH or unix:@NAME",
                                                      text));
        }
        // sun_path holds 108 bytes including the terminator (abstract: the leading NUL).
        if (rest.size() > 107 || rest.find('\0') != std::string_view::npos) {
            return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': a Unix socket path is at "
                                                      "most 107 bytes; use a shorter path",
                                                      text));
        }
        ep.unix_path = std::string(rest);
        return ep;
    }
    if (rest.starts_with("tcp://")) {
        ep.transport = Transport::tcp;
        rest.remove_prefix(6);
    } else if (rest.starts_with("udp://")) {
        ep.transport = Transport::udp;
        rest.remove_prefix(6);
    } else if (const auto scheme = rest.find("://"); scheme != std::string_view::npos) {
        return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': unknown scheme '{}'; use tcp://, "
                                                  "udp:// or unix:",
                                                  text, rest.substr(0, scheme)));
    }

    std::string_view host;
    std::string_view port;
    if (rest.starts_with("[")) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': missing ']' after the IPv6 "
                                                      "address; write it as [ADDR]:PORT",
                                                      text));
        }
        host = rest.substr(1, close - 1);
        const auto after = rest.substr(close + 1);
        if (!after.starts_with(":")) {
            return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': expected ':PORT' after ']'; "
                                                      "write it as [ADDR]:PORT",
                                                      text));
        }
        port = after.substr(1);
        if (host.find(':') == std::string_view::npos) {
            return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': brackets are for IPv6 "
                                                      "addresses only",
                                                      text));
        }
    } else if (const auto colon = rest.rfind(':'); colon == std::string_view::npos) {
        if (!all_digits(rest)) {
            return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': no port; write {}", text, k_forms));
        }
        host = "localhost";
        port = rest;
    } else {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': put an IPv6 address in "
                                                      "brackets, as [ADDR]:PORT",
                                                      text));
        }
    }
    auto checked_host = check_host(text, host);
    if (!checked_host) return tl::unexpected(checked_host.error());
    auto parsed_port = parse_port(port, rule);
    if (!parsed_port) {
        return fail(ErrorKind::usage, fmt::format("bad endpoint '{}': {}", text, parsed_port.error().message));
    }
    ep.host = std::move(*checked_host);
    ep.port = *parsed_port;
    return ep;
}

Result<PortRange> parse_port_range(std::string_view text) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) {
        auto port = parse_port(text);
        if (!port) return tl::unexpected(port.error());
        return PortRange{*port, *port};
    }
    auto first = parse_port(text.substr(0, dash));
    if (!first) return tl::unexpected(first.error());
    auto last = parse_port(text.substr(dash + 1));
    if (!last) return tl::unexpected(last.error());
    if (*first > *last) {
        return fail(ErrorKind::usage, fmt::format("bad port range '{}': the first port is larger than "
                                                  "the last; write LOW-HIGH",
                                                  text));
    }
    return PortRange{*first, *last};
}

} // namespace nettool
