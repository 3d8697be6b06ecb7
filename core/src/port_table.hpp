#pragma once
// Private to core/: the kernel's table of bound sockets, read two ways (NETLINK_SOCK_DIAG in
// sock_diag.cpp, /proc/net/{tcp,tcp6,udp,udp6} in proc_sockets.cpp), and the /proc/PID/fd
// scan that turns socket inodes into processes. bind_diagnosis.cpp puts them together to name
// a port's holder, ports.cpp to list who listens where.
#include <array>
#include <cstdint>
#include <map>
#include <nettool/bind_diagnosis.hpp>
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <set>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace nettool::detail {

// One socket with a local address: a TCP listener or a bound UDP socket.
struct BoundSocket {
    int family = AF_INET;                // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> addr{}; // network byte order; AF_INET uses the first 4
    std::uint16_t port = 0;              // host byte order
    std::uint64_t inode = 0;
    bool v6only = false;    // IPV6_V6ONLY (unknown from /proc: assumed false)
    std::uint8_t state = 0; // TCP_LISTEN; for UDP TCP_CLOSE (unconnected) or TCP_ESTABLISHED
};

// A listening Unix socket (stream or seqpacket) from unix_diag.
struct UnixSocket {
    std::uint64_t inode = 0;
    int type = 0;     // SOCK_STREAM or SOCK_SEQPACKET
    std::string name; // sun_path as bound: a path, or a NUL and an abstract name; "" unnamed
    std::uint64_t file_inode = 0;  // the socket file's inode and device (st_ino, st_dev); 0:
    std::uint64_t file_device = 0; // abstract, unnamed, or a kernel that does not tell
};

// TCP: listening sockets; UDP: every socket of the family. Fails when netlink is unavailable.
Result<std::vector<BoundSocket>> sock_diag_sockets(Transport transport, int family);

// Unix sockets in state LISTEN. Fails when netlink (or its unix_diag module) is unavailable.
Result<std::vector<UnixSocket>> unix_diag_listeners();

// The same from a /proc/net/{tcp,tcp6,udp,udp6}-format file (TCP rows in state LISTEN only).
Result<std::vector<BoundSocket>> proc_net_sockets(const std::string& path, Transport transport,
                                                  int family);

// /proc/net/<tcp|udp>[6] for transport and family.
std::string proc_net_path(Transport transport, int family);

// Processes (sorted by pid) whose /proc/PID/fd links name one of the inodes, the processes
// of each inode, and the inodes for which no visible process was found. proc_dir is "/proc"
// except in tests.
struct InodeOwners {
    std::vector<PortOwner> owners;
    std::map<std::uint64_t, std::vector<PortOwner>> by_inode;
    std::set<std::uint64_t> unowned;
};
InodeOwners owners_of_inodes(const std::set<std::uint64_t>& inodes,
                             const std::string& proc_dir = "/proc");

// Whether socket s stops a bind() of addr (same port; same address, a wildcard on either
// side, or a dual-stack IPv6 wildcard for an IPv4 address).
bool holds_address(const BoundSocket& s, const sockaddr* addr, socklen_t length);

enum class SocketTable { netlink, proc };

// find_port_holders with the socket table chosen (the public one tries netlink, then /proc).
Result<PortHolders> find_port_holders_using(SocketTable table, Transport transport,
                                            const sockaddr* addr, socklen_t length);

} // namespace nettool::detail
