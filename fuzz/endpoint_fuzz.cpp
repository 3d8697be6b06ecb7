// Fuzz target: endpoints, port ranges and --source addresses (endpoint.hpp, resolve.hpp). The
// same text goes to every parser; what one accepts must print back to text it reads the same.
#include "fuzz_check.hpp"

#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <nettool/endpoint.hpp>
#include <nettool/resolve.hpp>

using namespace nettool;
using namespace nettool::fuzz;

namespace {

bool same(const Endpoint& a, const Endpoint& b) {
    return a.transport == b.transport && a.host == b.host && a.port == b.port &&
           a.unix_path == b.unix_path && a.abstract == b.abstract;
}

void check_endpoint(std::string_view text, Transport transport, PortRule rule) {
    const auto endpoint = parse_endpoint(text, transport, rule);
    if (!endpoint) {
        FUZZ_CHECK(endpoint.error().kind == ErrorKind::usage);
        FUZZ_CHECK(!endpoint.error().message.empty());
        return;
    }
    if (endpoint->transport == Transport::unix_stream) {
        FUZZ_CHECK(!endpoint->unix_path.empty() && endpoint->unix_path.size() <= 107);
        FUZZ_CHECK(endpoint->unix_path.find('\0') == std::string::npos);
    } else {
        FUZZ_CHECK(!endpoint->host.empty());
        FUZZ_CHECK(rule == PortRule::allow_zero || endpoint->port != 0);
    }
    // display() names the endpoint in messages: written back, it is the same endpoint.
    const auto again = parse_endpoint(endpoint->display(), Transport::tcp, rule);
    FUZZ_CHECK(again);
    FUZZ_CHECK(same(*again, *endpoint));
}

void check_port_range(std::string_view text) {
    const auto range = parse_port_range(text);
    if (!range) {
        FUZZ_CHECK(range.error().kind == ErrorKind::usage);
        return;
    }
    FUZZ_CHECK(range->first >= 1 && range->first <= range->last);
    const auto again = parse_port_range(fmt::format("{}-{}", range->first, range->last));
    FUZZ_CHECK(again && again->first == range->first && again->last == range->last);
}

void check_source_address(std::string_view text) {
    const auto source = parse_source_address(text);
    if (!source) {
        FUZZ_CHECK(source.error().kind == ErrorKind::usage);
        return;
    }
    std::string written = fmt::format(":{}", source->port);
    if (source->address) {
        const int family = source->address->family();
        FUZZ_CHECK(family == AF_INET || family == AF_INET6);
        // The numeric form as written (host() would show a mapped IPv6 address as IPv4).
        const sockaddr* raw = source->address->get();
        const void* bytes =
            family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(raw)->sin_addr)
                : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(raw)->sin6_addr);
        char host[INET6_ADDRSTRLEN] = "";
        FUZZ_CHECK(::inet_ntop(family, bytes, host, sizeof host) != nullptr);
        written = (family == AF_INET6 ? fmt::format("[{}]", host) : std::string(host)) + written;
    }
    const auto again = parse_source_address(written);
    FUZZ_CHECK(again);
    FUZZ_CHECK(again->port == source->port);
    FUZZ_CHECK(again->address == source->address);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = as_text(data, size);
    for (const auto transport : {Transport::tcp, Transport::udp}) {
        for (const auto rule : {PortRule::nonzero, PortRule::allow_zero})
            check_endpoint(text, transport, rule);
    }
    check_port_range(text);
    check_source_address(text);
    return 0;
}
