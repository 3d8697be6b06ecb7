#pragma once
// `nettool ports`: who listens where (nettool-ports(1)). The kernel's socket table over
// NETLINK_SOCK_DIAG (inet_diag for TCP and UDP, unix_diag for Unix sockets), each socket's
// processes found through /proc/PID/fd: the same lookup that names a port's holder when a bind
// fails (bind_diagnosis.hpp).
#include <cstdint>
#include <nettool/bind_diagnosis.hpp>
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <nettool/socket_address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

// One socket that takes connections or datagrams: TCP in LISTEN, UDP bound and unconnected,
// Unix stream or seqpacket in LISTEN (Transport::unix_stream).
struct ListeningSocket {
    Transport transport = Transport::tcp;
    SocketAddress local; // IP address and port, or a Unix name ("/path", "@abstract", unnamed)
    bool v6only = false; // an IPv6 socket that does not take IPv4 (IPV6_V6ONLY)
    std::uint64_t inode = 0;
    std::uint64_t file_inode = 0; // Unix: the inode of the socket file (0: none or abstract)
    std::uint64_t file_device = 0;
    std::vector<PortOwner> owners; // sorted by pid; empty when no visible process holds it
};

// Which sockets to show: a bare PORT (any address; TCP and UDP), HOST:PORT, [IPV6]:PORT,
// *:PORT (TCP and UDP unless tcp:// or udp:// says which) or unix:/PATH, unix:@NAME.
struct PortsFilter {
    std::string text; // as written, for messages
    bool tcp = true;
    bool udp = true;
    bool unix_socket = false;
    std::uint16_t port = 0;
    std::vector<SocketAddress> addresses; // a HOST's addresses; empty: any address
    std::string unix_name;                // "/path" or "@name"
};

// Fails with a usage error (2) for text that is no port or endpoint, and a network error (4)
// when HOST does not resolve.
Result<PortsFilter> parse_ports_filter(std::string_view text);

// Whether connections (datagrams) to the filter's address reach the socket: a socket on the
// wildcard address matches every address of its family (a dual-stack one both families), a
// Unix filter matches by name or by the socket file's inode.
bool matches(const PortsFilter& filter, const ListeningSocket& socket);

struct PortsQuery {
    bool tcp = true;
    bool udp = true;
    bool unix_sockets = true;
};

// Every listening socket of the asked kinds in this network namespace, sorted by transport
// (TCP, UDP, Unix), then address and port (Unix: name). Fails (network, 4) when the kernel's
// socket table cannot be read.
Result<std::vector<ListeningSocket>> listening_sockets(const PortsQuery& query);

} // namespace nettool
