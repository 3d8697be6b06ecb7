#pragma once
// Why a bind() failed, in words a user can act on (the origin essay: "the port stays in use; the
// author resorted to kill -9"). EADDRINUSE names the process holding the port, found in the
// kernel's socket table over NETLINK_SOCK_DIAG (inet_diag) matched against /proc/PID/fd socket
// inodes, with /proc/net/{tcp,tcp6,udp,udp6} as the fallback. EACCES on a low port explains
// net.ipv4.ip_unprivileged_port_start and CAP_NET_BIND_SERVICE.
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace nettool {

struct PortOwner {
    int pid = 0;
    std::string program; // /proc/PID/comm
};

struct PortHolders {
    std::vector<PortOwner> owners; // processes whose descriptors hold the socket
    bool socket_seen = false;      // the kernel table has a socket bound there
    bool owner_hidden = false;     // seen, but no visible process holds it (another user's)
};

// transport is tcp (listening sockets) or udp (bound sockets); addr is AF_INET or AF_INET6.
PortHolders find_port_holders(Transport transport, const sockaddr* addr, socklen_t length);

// One sentence for a failed bind() of addr, with the ErrorKind nettool(1) documents (network, 4):
//   "port 1024 on 127.0.0.1 is in use by pid 4242 (python3); stop it or choose another port"
//   "port 80 on 127.0.0.1 is below net.ipv4.ip_unprivileged_port_start (1024) and binding it
//    needs root or CAP_NET_BIND_SERVICE; choose a port >= 1024, or grant the capability
//    (setcap cap_net_bind_service=+ep nettool), or lower the sysctl"
Error describe_bind_error(int err, Transport transport, const sockaddr* addr, socklen_t length);

} // namespace nettool
