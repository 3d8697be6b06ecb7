// `nettool ports`: the socket table (port_table.hpp) turned into listening sockets with their
// processes, and the filters that pick some of them.
#include "port_table.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nettool/ports.hpp>
#include <nettool/resolve.hpp>
#include <set>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <tuple>

namespace nettool {
namespace {

SocketAddress ip_address_of(const detail::BoundSocket& s) {
    if (s.family == AF_INET6) {
        sockaddr_in6 in6{};
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(s.port);
        std::memcpy(&in6.sin6_addr, s.addr.data(), 16);
        return SocketAddress(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
    }
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(s.port);
    std::memcpy(&in.sin_addr, s.addr.data(), 4);
    return SocketAddress(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

// The table's form of a socket again, for the one address-matching rule (holds_address).
detail::BoundSocket bound_socket_of(const ListeningSocket& s) {
    detail::BoundSocket bound;
    bound.family = s.local.family();
    bound.port = s.local.port();
    bound.v6only = s.v6only;
    if (bound.family == AF_INET) {
        std::memcpy(bound.addr.data(),
                    &reinterpret_cast<const sockaddr_in*>(s.local.get())->sin_addr, 4);
    } else if (bound.family == AF_INET6) {
        std::memcpy(bound.addr.data(),
                    &reinterpret_cast<const sockaddr_in6*>(s.local.get())->sin6_addr, 16);
    }
    return bound;
}

SocketAddress unix_address_of(const std::string& name) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    const std::size_t size = std::min(name.size(), sizeof un.sun_path);
    std::memcpy(un.sun_path, name.data(), size);
    // A path is counted with its terminating NUL (when it fits); an abstract name is its bytes.
    const bool path = size > 0 && name[0] != '\0' && size < sizeof un.sun_path;
    return SocketAddress(
        reinterpret_cast<const sockaddr*>(&un),
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + size + (path ? 1 : 0)));
}

int transport_rank(Transport t) {
    return t == Transport::tcp ? 0 : t == Transport::udp ? 1 : 2;
}

bool listed_before(const ListeningSocket& a, const ListeningSocket& b) {
    if (a.transport != b.transport)
        return transport_rank(a.transport) < transport_rank(b.transport);
    if (a.transport == Transport::unix_stream)
        return std::make_tuple(a.local.host(), a.inode) < std::make_tuple(b.local.host(), b.inode);
    const auto key = [](const ListeningSocket& s) {
        const detail::BoundSocket bound = bound_socket_of(s);
        return std::make_tuple(bound.family, bound.addr, bound.port, s.inode);
    };
    return key(a) < key(b);
}

Status add_inet(Transport transport, std::vector<ListeningSocket>& out) {
    for (const int family : {AF_INET, AF_INET6}) {
        auto sockets = detail::sock_diag_sockets(transport, family);
        if (!sockets) {
            if (family == AF_INET6) continue; // a kernel without IPv6 has no IPv6 sockets
            return tl::unexpected(sockets.error());
        }
        for (const detail::BoundSocket& s : *sockets) {
            // UDP: a connected socket is a client's; the listening kind is bound, unconnected.
            if (transport == Transport::udp && (s.state != TCP_CLOSE || s.port == 0)) continue;
            ListeningSocket socket;
            socket.transport = transport;
            socket.local = ip_address_of(s);
            socket.v6only = s.v6only;
            socket.inode = s.inode;
            out.push_back(std::move(socket));
        }
    }
    return {};
}

Status add_unix(std::vector<ListeningSocket>& out) {
    auto sockets = detail::unix_diag_listeners();
    if (!sockets) return tl::unexpected(sockets.error());
    for (detail::UnixSocket& s : *sockets) {
        ListeningSocket socket;
        socket.transport = Transport::unix_stream;
        socket.local = unix_address_of(s.name);
        socket.inode = s.inode;
        socket.file_inode = s.file_inode;
        socket.file_device = s.file_device;
        out.push_back(std::move(socket));
    }
    return {};
}

bool starts_with_scheme(std::string_view text) {
    return text.starts_with("tcp://") || text.starts_with("udp://") || text.starts_with("unix:");
}

} // namespace

Result<PortsFilter> parse_ports_filter(std::string_view text) {
    PortsFilter filter;
    filter.text = std::string(text);
    // A bare number is a port on every address (serve's and connect's bare PORT means
    // localhost:PORT; here the question is who listens on the port anywhere).
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
        auto port = parse_port(text);
        if (!port) return tl::unexpected(port.error());
        filter.port = *port;
        return filter;
    }
    auto endpoint = parse_endpoint(text, Transport::tcp, PortRule::nonzero);
    if (!endpoint) return tl::unexpected(endpoint.error());
    if (endpoint->transport == Transport::unix_stream) {
        filter.tcp = filter.udp = false;
        filter.unix_socket = true;
        filter.unix_name = (endpoint->abstract ? "@" : "") + endpoint->unix_path;
        return filter;
    }
    if (starts_with_scheme(text)) {
        filter.tcp = endpoint->transport == Transport::tcp;
        filter.udp = endpoint->transport == Transport::udp;
    }
    filter.port = endpoint->port;
    if (endpoint->host != "*") {
        auto addresses = resolve(endpoint->host, endpoint->port, endpoint->transport, Family::any,
                                 ResolveFor::listening);
        if (!addresses) return tl::unexpected(addresses.error());
        filter.addresses = std::move(*addresses);
    }
    return filter;
}

bool matches(const PortsFilter& filter, const ListeningSocket& socket) {
    if (socket.transport == Transport::unix_stream) {
        if (!filter.unix_socket) return false;
        if (socket.local.host() == filter.unix_name) return true;
        // The same file under another spelling (a relative path, a symlinked directory).
        struct stat st {};
        return socket.file_inode != 0 && !filter.unix_name.starts_with("@") &&
               ::stat(filter.unix_name.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
               st.st_ino == socket.file_inode && st.st_dev == socket.file_device;
    }
    if (socket.transport == Transport::tcp ? !filter.tcp : !filter.udp) return false;
    if (socket.local.port() != filter.port) return false;
    if (filter.addresses.empty()) return true;
    const detail::BoundSocket bound = bound_socket_of(socket);
    return std::any_of(filter.addresses.begin(), filter.addresses.end(),
                       [&bound](const SocketAddress& a) {
                           return detail::holds_address(bound, a.get(), a.length());
                       });
}

Result<std::vector<ListeningSocket>> listening_sockets(const PortsQuery& query) {
    std::vector<ListeningSocket> sockets;
    if (query.tcp) {
        if (auto s = add_inet(Transport::tcp, sockets); !s) return tl::unexpected(s.error());
    }
    if (query.udp) {
        if (auto s = add_inet(Transport::udp, sockets); !s) return tl::unexpected(s.error());
    }
    if (query.unix_sockets) {
        if (auto s = add_unix(sockets); !s) return tl::unexpected(s.error());
    }
    std::set<std::uint64_t> inodes;
    for (const auto& s : sockets) {
        if (s.inode != 0) inodes.insert(s.inode);
    }
    detail::InodeOwners owners = detail::owners_of_inodes(inodes);
    for (auto& s : sockets) {
        if (const auto it = owners.by_inode.find(s.inode); it != owners.by_inode.end())
            s.owners = it->second;
    }
    std::sort(sockets.begin(), sockets.end(), listed_before);
    return sockets;
}

} // namespace nettool
