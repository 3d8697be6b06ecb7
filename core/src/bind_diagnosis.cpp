// Why a bind() failed, in a sentence a user can act on: who holds the port (socket table ->
// inode -> /proc/PID/fd), or what the privileged-port rule is and how to get past it.
#include "port_table.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <netinet/in.h>
#include <nettool/bind_diagnosis.hpp>
#include <nettool/socket_address.hpp>
#include <sys/un.h>

namespace nettool {
namespace detail {
namespace {

// An IPv4 or IPv6 address with IPv4-mapped IPv6 (::ffff:a.b.c.d) reduced to IPv4, which is
// how the kernel treats a socket bound to one.
struct Address {
    int family = AF_UNSPEC;
    std::array<std::uint8_t, 16> bytes{};
    std::uint16_t port = 0;

    bool wildcard() const {
        const std::size_t size = family == AF_INET ? 4 : 16;
        return std::all_of(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size),
                           [](std::uint8_t b) { return b == 0; });
    }
};

constexpr std::array<std::uint8_t, 12> k_v4_mapped_prefix = {0, 0, 0, 0, 0,    0,
                                                             0, 0, 0, 0, 0xff, 0xff};

void reduce_v4_mapped(Address& address) {
    if (address.family == AF_INET6 &&
        std::equal(k_v4_mapped_prefix.begin(), k_v4_mapped_prefix.end(), address.bytes.begin())) {
        address.family = AF_INET;
        std::copy_n(address.bytes.begin() + 12, 4, address.bytes.begin());
        std::fill(address.bytes.begin() + 4, address.bytes.end(), std::uint8_t{0});
    }
}

Address from_sockaddr(const sockaddr* addr, socklen_t length) {
    Address address;
    if (addr == nullptr) return address;
    if (addr->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        sockaddr_in in{};
        std::memcpy(&in, addr, sizeof in);
        address.family = AF_INET;
        std::memcpy(address.bytes.data(), &in.sin_addr, 4);
        address.port = ntohs(in.sin_port);
    } else if (addr->sa_family == AF_INET6 &&
               length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, addr, sizeof in6);
        address.family = AF_INET6;
        std::memcpy(address.bytes.data(), &in6.sin6_addr, 16);
        address.port = ntohs(in6.sin6_port);
        reduce_v4_mapped(address);
    }
    return address;
}

Address from_socket(const BoundSocket& s) {
    Address address;
    address.family = s.family;
    address.bytes = s.addr;
    address.port = s.port;
    reduce_v4_mapped(address);
    return address;
}

} // namespace

bool holds_address(const BoundSocket& s, const sockaddr* addr, socklen_t length) {
    const Address wanted = from_sockaddr(addr, length);
    const Address held = from_socket(s);
    if (wanted.family == AF_UNSPEC || held.port != wanted.port) return false;
    if (held.family == wanted.family) {
        return held.wildcard() || wanted.wildcard() || held.bytes == wanted.bytes;
    }
    // An IPv6 wildcard socket without IPV6_V6ONLY takes the port on every IPv4 address too;
    // a dual-stack wildcard bind collides with any IPv4 socket on the port.
    if (held.family == AF_INET6) return held.wildcard() && !s.v6only;
    return wanted.wildcard();
}

Result<PortHolders> find_port_holders_using(SocketTable table, Transport transport,
                                            const sockaddr* addr, socklen_t length) {
    std::set<std::uint64_t> inodes;
    PortHolders holders;
    for (const int family : {AF_INET, AF_INET6}) {
        auto sockets = table == SocketTable::netlink
                           ? sock_diag_sockets(transport, family)
                           : proc_net_sockets(proc_net_path(transport, family), transport, family);
        if (!sockets) {
            // A kernel without IPv6 has neither the table nor any IPv6 socket to find.
            if (family == AF_INET6) continue;
            return tl::unexpected(sockets.error());
        }
        for (const BoundSocket& s : *sockets) {
            if (!holds_address(s, addr, length)) continue;
            holders.socket_seen = true;
            if (s.inode != 0) inodes.insert(s.inode);
        }
    }
    InodeOwners owners = owners_of_inodes(inodes);
    holders.owners = std::move(owners.owners);
    holders.owner_hidden =
        holders.socket_seen && (holders.owners.empty() || !owners.unowned.empty());
    return holders;
}

} // namespace detail

PortHolders find_port_holders(Transport transport, const sockaddr* addr, socklen_t length) {
    using detail::SocketTable;
    if (auto holders =
            detail::find_port_holders_using(SocketTable::netlink, transport, addr, length)) {
        return *holders;
    }
    // No NETLINK_SOCK_DIAG (module missing, seccomp, old kernel): /proc/net has the same table.
    if (auto holders =
            detail::find_port_holders_using(SocketTable::proc, transport, addr, length)) {
        return *holders;
    }
    return {};
}

namespace {

// The one address type does the text: "127.0.0.1", "[::1]:80", "unix:/run/x.sock".
SocketAddress address_of(const sockaddr* addr, socklen_t length) {
    return addr != nullptr ? SocketAddress(addr, length) : SocketAddress();
}
std::string address_text(const sockaddr* addr, socklen_t length) {
    return address_of(addr, length).host();
}
std::uint16_t port_of(const sockaddr* addr, socklen_t length) {
    return address_of(addr, length).port();
}
std::string endpoint_text(const sockaddr* addr, socklen_t length) {
    return address_of(addr, length).display();
}

// "pid 4242 (python3)", "pid 1 (a), pid 2 (b) and 3 more".
std::string owner_list(const std::vector<PortOwner>& owners) {
    constexpr std::size_t k_named = 4;
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < owners.size() && i < k_named; ++i) {
        parts.push_back(owners[i].program.empty()
                            ? fmt::format("pid {}", owners[i].pid)
                            : fmt::format("pid {} ({})", owners[i].pid, owners[i].program));
    }
    if (owners.size() > k_named) parts.push_back(fmt::format("{} more", owners.size() - k_named));
    if (parts.size() == 1) return parts.front();
    std::string text;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i)
        text += (i == 0 ? "" : ", ") + parts[i];
    return text + " and " + parts.back();
}

int unprivileged_port_start() {
    std::ifstream in("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    int value = 1024; // the kernel's default, and the rule before the sysctl existed (4.11)
    if (!(in >> value)) value = 1024;
    return value;
}

Error address_in_use(Transport transport, const sockaddr* addr, socklen_t length) {
    const std::string where =
        fmt::format("{}port {} on {}", transport == Transport::udp ? "UDP " : "",
                    port_of(addr, length), address_text(addr, length));
    const PortHolders holders = find_port_holders(transport, addr, length);
    std::string message;
    if (!holders.owners.empty()) {
        message = fmt::format("{} is in use by {}{}; stop it or choose another port", where,
                              owner_list(holders.owners),
                              holders.owner_hidden ? " and a process of another user" : "");
    } else if (holders.owner_hidden) {
        message = fmt::format("{} is in use by a process of another user (not visible to you); "
                              "stop it or choose another port",
                              where);
    } else {
        message = fmt::format("{} is in use (the holder could not be found; it may be a socket in "
                              "TIME_WAIT without SO_REUSEADDR or in another network namespace); "
                              "choose another port",
                              where);
    }
    return Error{ErrorKind::network, std::move(message)};
}

} // namespace

Error describe_bind_error(int err, Transport transport, const sockaddr* addr, socklen_t length) {
    const bool inet =
        addr != nullptr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6);
    if (inet && err == EADDRINUSE) return address_in_use(transport, addr, length);
    if (inet && (err == EACCES || err == EPERM)) {
        const int port = port_of(addr, length);
        const int limit = unprivileged_port_start();
        if (port < limit) {
            return Error{
                ErrorKind::network,
                fmt::format("port {} on {} is below net.ipv4.ip_unprivileged_port_start ({}) "
                            "and binding it needs root or CAP_NET_BIND_SERVICE; choose a "
                            "port >= {}, or grant the capability (setcap "
                            "cap_net_bind_service=+ep nettool), or lower the sysctl (sysctl "
                            "net.ipv4.ip_unprivileged_port_start={})",
                            port, address_text(addr, length), limit, limit, port)};
        }
    }
    if (inet && err == EADDRNOTAVAIL) {
        return Error{
            ErrorKind::network,
            fmt::format("bind to {}: the address {} is not on this machine; use the address "
                        "of a local interface, 127.0.0.1, or 0.0.0.0 for all",
                        endpoint_text(addr, length), address_text(addr, length))};
    }
    return Error{kind_of_socket_errno(err),
                 fmt::format("bind to {}: {}", endpoint_text(addr, length), errno_text(err))};
}

} // namespace nettool
