// The bind-failure diagnosis against the real kernel: sockets bound by this test process are
// looked up in the socket table (netlink and /proc) and traced back to getpid().
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nettool/bind_diagnosis.hpp>
#include <nettool/unique_fd.hpp>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <type_traits>
#include <unistd.h>

// Internal to core/ (not installed): the test reaches the socket tables directly.
#include "../../core/src/port_table.hpp"

using namespace nettool;
using nettool::detail::SocketTable;

namespace {

std::string self_comm() {
    std::ifstream in("/proc/self/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

sockaddr_in v4(const char* text, std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    EXPECT_EQ(::inet_pton(AF_INET, text, &addr.sin_addr), 1);
    return addr;
}

sockaddr_in6 v6(const char* text, std::uint16_t port) {
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(port);
    EXPECT_EQ(::inet_pton(AF_INET6, text, &addr.sin6_addr), 1);
    return addr;
}

const sockaddr* sa(const auto& addr) {
    return reinterpret_cast<const sockaddr*>(&addr);
}

// A socket bound to addr (port 0: the kernel picks); listening for TCP. Returns the port.
template <class Addr>
std::uint16_t bind_socket(UniqueFd& fd, int type, Addr addr, int v6only = -1) {
    fd.reset(::socket(sa(addr)->sa_family, type | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd);
    if (v6only >= 0) {
        EXPECT_EQ(::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only), 0);
    }
    EXPECT_EQ(::bind(fd.get(), sa(addr), sizeof addr), 0) << std::strerror(errno);
    if (type == SOCK_STREAM) {
        EXPECT_EQ(::listen(fd.get(), 4), 0);
    }
    Addr bound{};
    socklen_t length = sizeof bound;
    EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length), 0);
    if constexpr (std::is_same_v<Addr, sockaddr_in>) {
        return ntohs(bound.sin_port);
    } else {
        return ntohs(bound.sin6_port);
    }
}

bool has_owner(const PortHolders& holders, int pid, const std::string& program) {
    for (const auto& owner : holders.owners) {
        if (owner.pid == pid && owner.program == program) return true;
    }
    return false;
}

bool ipv6_available() {
    UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    auto addr = v6("::1", 0);
    return ::bind(fd.get(), sa(addr), sizeof addr) == 0;
}

int read_port_start() {
    std::ifstream in("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    int value = 1024;
    in >> value;
    return value;
}

// A port that was free a moment ago (bound, read, closed).
std::uint16_t free_port(int type) {
    UniqueFd fd;
    return bind_socket(fd, type, v4("127.0.0.1", 0));
}

} // namespace

TEST(FindPortHolders, TcpListenerNamesThisProcess) {
    UniqueFd listener;
    const auto port = bind_socket(listener, SOCK_STREAM, v4("127.0.0.1", 0));
    const auto addr = v4("127.0.0.1", port);
    const PortHolders holders = find_port_holders(Transport::tcp, sa(addr), sizeof addr);
    EXPECT_TRUE(holders.socket_seen);
    EXPECT_FALSE(holders.owner_hidden);
    EXPECT_TRUE(has_owner(holders, ::getpid(), self_comm()));
}

TEST(FindPortHolders, NetlinkTableSeesTcpAndUdp) {
    UniqueFd tcp, udp;
    const auto tcp_port = bind_socket(tcp, SOCK_STREAM, v4("127.0.0.1", 0));
    const auto udp_port = bind_socket(udp, SOCK_DGRAM, v4("127.0.0.1", 0));
    const auto tcp_addr = v4("127.0.0.1", tcp_port);
    const auto udp_addr = v4("127.0.0.1", udp_port);
    auto holders = detail::find_port_holders_using(SocketTable::netlink, Transport::tcp,
                                                   sa(tcp_addr), sizeof tcp_addr);
    ASSERT_TRUE(holders) << holders.error().message;
    EXPECT_TRUE(has_owner(*holders, ::getpid(), self_comm()));
    holders = detail::find_port_holders_using(SocketTable::netlink, Transport::udp, sa(udp_addr),
                                              sizeof udp_addr);
    ASSERT_TRUE(holders) << holders.error().message;
    EXPECT_TRUE(has_owner(*holders, ::getpid(), self_comm()));
}

TEST(FindPortHolders, ProcFallbackSeesTcpAndUdp) {
    UniqueFd tcp, udp;
    const auto tcp_port = bind_socket(tcp, SOCK_STREAM, v4("127.0.0.1", 0));
    const auto udp_port = bind_socket(udp, SOCK_DGRAM, v4("127.0.0.1", 0));
    const auto tcp_addr = v4("127.0.0.1", tcp_port);
    const auto udp_addr = v4("127.0.0.1", udp_port);
    auto holders = detail::find_port_holders_using(SocketTable::proc, Transport::tcp, sa(tcp_addr),
                                                   sizeof tcp_addr);
    ASSERT_TRUE(holders) << holders.error().message;
    EXPECT_TRUE(holders->socket_seen);
    EXPECT_TRUE(has_owner(*holders, ::getpid(), self_comm()));
    holders = detail::find_port_holders_using(SocketTable::proc, Transport::udp, sa(udp_addr),
                                              sizeof udp_addr);
    ASSERT_TRUE(holders) << holders.error().message;
    EXPECT_TRUE(has_owner(*holders, ::getpid(), self_comm()));
    // The UDP socket is no TCP listener.
    holders = detail::find_port_holders_using(SocketTable::proc, Transport::tcp, sa(udp_addr),
                                              sizeof udp_addr);
    ASSERT_TRUE(holders);
    EXPECT_FALSE(has_owner(*holders, ::getpid(), self_comm()));
}

TEST(FindPortHolders, FreePortIsNotSeen) {
    for (const int type : {SOCK_STREAM, SOCK_DGRAM}) {
        const auto addr = v4("127.0.0.1", free_port(type));
        const auto transport = type == SOCK_STREAM ? Transport::tcp : Transport::udp;
        for (const auto table : {SocketTable::netlink, SocketTable::proc}) {
            auto holders = detail::find_port_holders_using(table, transport, sa(addr), sizeof addr);
            ASSERT_TRUE(holders);
            EXPECT_FALSE(holders->socket_seen);
            EXPECT_TRUE(holders->owners.empty());
            EXPECT_FALSE(holders->owner_hidden);
        }
    }
}

TEST(FindPortHolders, WildcardListenerHoldsSpecificAddress) {
    UniqueFd listener;
    const auto port = bind_socket(listener, SOCK_STREAM, v4("0.0.0.0", 0));
    const auto addr = v4("127.0.0.1", port);
    EXPECT_TRUE(has_owner(find_port_holders(Transport::tcp, sa(addr), sizeof addr), ::getpid(),
                          self_comm()));
}

TEST(FindPortHolders, DualStackWildcardHoldsIpv4UnlessV6Only) {
    if (!ipv6_available()) GTEST_SKIP() << "no IPv6 on this machine";
    UniqueFd dual, v6only;
    const auto dual_port = bind_socket(dual, SOCK_STREAM, v6("::", 0), 0);
    const auto v6only_port = bind_socket(v6only, SOCK_STREAM, v6("::", 0), 1);
    const auto dual_addr = v4("127.0.0.1", dual_port);
    const auto v6only_addr = v4("127.0.0.1", v6only_port);
    const auto v6only_v6 = v6("::1", v6only_port);
    EXPECT_TRUE(has_owner(find_port_holders(Transport::tcp, sa(dual_addr), sizeof dual_addr),
                          ::getpid(), self_comm()));
    // netlink reports IPV6_V6ONLY: that socket leaves 127.0.0.1 free but holds ::1.
    auto holders = detail::find_port_holders_using(SocketTable::netlink, Transport::tcp,
                                                   sa(v6only_addr), sizeof v6only_addr);
    ASSERT_TRUE(holders);
    EXPECT_FALSE(holders->socket_seen);
    EXPECT_TRUE(has_owner(find_port_holders(Transport::tcp, sa(v6only_v6), sizeof v6only_v6),
                          ::getpid(), self_comm()));
}

TEST(DescribeBindError, AddressInUseNamesThisProcess) {
    UniqueFd listener;
    const auto port = bind_socket(listener, SOCK_STREAM, v4("127.0.0.1", 0));
    const auto addr = v4("127.0.0.1", port);
    UniqueFd second(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_NE(::bind(second.get(), sa(addr), sizeof addr), 0);
    ASSERT_EQ(errno, EADDRINUSE);
    const Error error = describe_bind_error(EADDRINUSE, Transport::tcp, sa(addr), sizeof addr);
    EXPECT_EQ(error.kind, ErrorKind::network);
    EXPECT_EQ(error.message, "port " + std::to_string(port) + " on 127.0.0.1 is in use by pid " +
                                 std::to_string(::getpid()) + " (" + self_comm() +
                                 "); stop it or choose another port");
}

TEST(DescribeBindError, UdpAddressInUseNamesThisProcess) {
    UniqueFd bound;
    const auto port = bind_socket(bound, SOCK_DGRAM, v4("127.0.0.1", 0));
    const auto addr = v4("127.0.0.1", port);
    UniqueFd second(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_NE(::bind(second.get(), sa(addr), sizeof addr), 0);
    ASSERT_EQ(errno, EADDRINUSE);
    const Error error = describe_bind_error(EADDRINUSE, Transport::udp, sa(addr), sizeof addr);
    EXPECT_EQ(error.kind, ErrorKind::network);
    EXPECT_NE(error.message.find("UDP port " + std::to_string(port) + " on 127.0.0.1"),
              std::string::npos)
        << error.message;
    EXPECT_NE(error.message.find("in use by pid " + std::to_string(::getpid())), std::string::npos)
        << error.message;
}

TEST(DescribeBindError, AddressInUseWithoutHolderSaysSo) {
    const auto addr = v4("127.0.0.1", free_port(SOCK_STREAM));
    const Error error = describe_bind_error(EADDRINUSE, Transport::tcp, sa(addr), sizeof addr);
    EXPECT_EQ(error.kind, ErrorKind::network);
    EXPECT_NE(error.message.find("is in use (the holder could not be found; it may be a socket in "
                                 "TIME_WAIT without SO_REUSEADDR or in another network namespace); "
                                 "choose another port"),
              std::string::npos)
        << error.message;
}

TEST(DescribeBindError, OwnerOfAnotherUserIsHidden) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
    UniqueFd listener;
    const auto port = bind_socket(listener, SOCK_STREAM, v4("127.0.0.1", 0));
    const auto addr = v4("127.0.0.1", port);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // The child must not hold the socket itself; as nobody it cannot read root's /proc/PID/fd.
        listener.reset();
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(65534, 65534, 65534) != 0) {
            ::_exit(10);
        }
        const PortHolders holders = find_port_holders(Transport::tcp, sa(addr), sizeof addr);
        const Error error = describe_bind_error(EADDRINUSE, Transport::tcp, sa(addr), sizeof addr);
        int status = 0;
        if (!holders.socket_seen) status |= 1;
        if (!holders.owner_hidden) status |= 2;
        if (!holders.owners.empty()) status |= 4;
        if (error.message.find(
                "is in use by a process of another user (not visible to you); stop it "
                "or choose another port") == std::string::npos) {
            status |= 8;
        }
        ::_exit(status);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "1: not seen, 2: not hidden, 4: owners, 8: message, 10: setuid";
}

TEST(DescribeBindError, PrivilegedPortExplainsTheRule) {
    const int limit = read_port_start();
    if (limit <= 80)
        GTEST_SKIP() << "ip_unprivileged_port_start is " << limit << ": port 80 is not privileged";
    const auto addr = v4("127.0.0.1", 80);
    for (const int err : {EACCES, EPERM}) {
        const Error error = describe_bind_error(err, Transport::tcp, sa(addr), sizeof addr);
        EXPECT_EQ(error.kind, ErrorKind::network);
        const std::string& m = error.message;
        EXPECT_EQ(m.rfind("port 80 on 127.0.0.1 is below net.ipv4.ip_unprivileged_port_start (" +
                              std::to_string(limit) + ")",
                          0),
                  0u)
            << m;
        EXPECT_NE(m.find("CAP_NET_BIND_SERVICE"), std::string::npos) << m;
        EXPECT_NE(m.find("choose a port >= " + std::to_string(limit)), std::string::npos) << m;
        EXPECT_NE(m.find("setcap cap_net_bind_service=+ep"), std::string::npos) << m;
        EXPECT_NE(m.find("lower the sysctl"), std::string::npos) << m;
    }
}

TEST(DescribeBindError, PermissionDeniedAboveTheLimitIsPlain) {
    const auto addr = v4("127.0.0.1", 65000);
    const Error error = describe_bind_error(EACCES, Transport::tcp, sa(addr), sizeof addr);
    EXPECT_EQ(error.message, "bind to 127.0.0.1:65000: permission denied");
}

TEST(DescribeBindError, AddressNotAvailableAndOthers) {
    const auto addr = v4("192.0.2.7", 8080);
    Error error = describe_bind_error(EADDRNOTAVAIL, Transport::tcp, sa(addr), sizeof addr);
    EXPECT_EQ(error.kind, ErrorKind::network);
    EXPECT_NE(error.message.find("the address 192.0.2.7 is not on this machine"), std::string::npos)
        << error.message;
    const auto addr6 = v6("::1", 9);
    error = describe_bind_error(EINVAL, Transport::tcp, sa(addr6), sizeof addr6);
    EXPECT_EQ(error.message, "bind to [::1]:9: invalid argument");
    error = describe_bind_error(EMFILE, Transport::tcp, sa(addr6), sizeof addr6);
    EXPECT_EQ(error.kind, ErrorKind::file_io);
}

TEST(ProcNetSockets, ParsesListenersAndSkipsOthers) {
    char dir_template[] = "/tmp/nettool-procnet-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::string dir = dir_template;
    {
        std::ofstream out(dir + "/tcp");
        out << "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
               "timeout inode\n"
            << "   0: 0100007F:0401 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0  "
               " "
               "     0 4242 1 0000000000000000 100 0 0 10 0\n"
            << "   1: 0100007F:0402 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0  "
               " "
               "     0 4343 1 0000000000000000 20 4 30 10 -1\n"
            << "garbage\n";
        std::ofstream out6(dir + "/tcp6");
        out6 << "  sl  local_address                         remote_address                        "
                "st "
                "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
             << "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 "
                "0A "
                "00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 "
                "0 0 10 0\n";
    }
    auto sockets = detail::proc_net_sockets(dir + "/tcp", Transport::tcp, AF_INET);
    ASSERT_TRUE(sockets);
    ASSERT_EQ(sockets->size(), 1u); // the ESTABLISHED row and the garbage are not listeners
    EXPECT_EQ((*sockets)[0].port, 1025);
    EXPECT_EQ((*sockets)[0].inode, 4242u);
    const auto loopback = v4("127.0.0.1", 1025);
    EXPECT_TRUE(detail::holds_address((*sockets)[0], sa(loopback), sizeof loopback));
    // As UDP every row counts (bound UDP sockets have no listening state).
    sockets = detail::proc_net_sockets(dir + "/tcp", Transport::udp, AF_INET);
    ASSERT_TRUE(sockets);
    EXPECT_EQ(sockets->size(), 2u);

    sockets = detail::proc_net_sockets(dir + "/tcp6", Transport::tcp, AF_INET6);
    ASSERT_TRUE(sockets);
    ASSERT_EQ(sockets->size(), 1u);
    EXPECT_EQ((*sockets)[0].port, 8080);
    const auto v6_loopback = v6("::1", 8080);
    EXPECT_TRUE(detail::holds_address((*sockets)[0], sa(v6_loopback), sizeof v6_loopback));

    EXPECT_FALSE(detail::proc_net_sockets(dir + "/missing", Transport::tcp, AF_INET));
    for (const char* name : {"/tcp", "/tcp6"})
        std::remove((dir + name).c_str());
    ::rmdir(dir.c_str());
}

TEST(OwnersOfInodes, ReadsFdLinksAndComm) {
    char dir_template[] = "/tmp/nettool-proc-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::string proc = dir_template;
    for (const char* pid : {"/17", "/5", "/self"}) {
        ASSERT_EQ(::mkdir((proc + pid).c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((proc + pid + "/fd").c_str(), 0755), 0);
    }
    ASSERT_EQ(::symlink("socket:[100]", (proc + "/17/fd/3").c_str()), 0);
    ASSERT_EQ(::symlink("socket:[100]", (proc + "/17/fd/4").c_str()), 0); // dup'ed: one owner
    ASSERT_EQ(::symlink("pipe:[100]", (proc + "/5/fd/0").c_str()), 0);
    ASSERT_EQ(::symlink("socket:[200]", (proc + "/5/fd/1").c_str()), 0);
    ASSERT_EQ(::symlink("socket:[300]", (proc + "/self/fd/1").c_str()), 0); // not a pid
    std::ofstream(proc + "/17/comm") << "python3\n";
    std::ofstream(proc + "/5/comm") << "nc\n";

    const auto result = detail::owners_of_inodes({100, 200, 300, 400}, proc);
    ASSERT_EQ(result.owners.size(), 2u);
    EXPECT_EQ(result.owners[0].pid, 5);
    EXPECT_EQ(result.owners[0].program, "nc");
    EXPECT_EQ(result.owners[1].pid, 17);
    EXPECT_EQ(result.owners[1].program, "python3");
    EXPECT_EQ(result.unowned, (std::set<std::uint64_t>{300, 400}));

    EXPECT_EQ(std::system(("rm -rf '" + proc + "'").c_str()), 0);
}

TEST(HoldsAddress, MatchesSameAddressWildcardsAndDualStack) {
    detail::BoundSocket s;
    s.family = AF_INET;
    s.port = 1024;
    s.addr = {127, 0, 0, 1};
    const auto same = v4("127.0.0.1", 1024);
    const auto other = v4("127.0.0.2", 1024);
    const auto other_port = v4("127.0.0.1", 1025);
    const auto any = v4("0.0.0.0", 1024);
    const auto any6 = v6("::", 1024);
    const auto mapped = v6("::ffff:127.0.0.1", 1024);
    EXPECT_TRUE(detail::holds_address(s, sa(same), sizeof same));
    EXPECT_FALSE(detail::holds_address(s, sa(other), sizeof other));
    EXPECT_FALSE(detail::holds_address(s, sa(other_port), sizeof other_port));
    EXPECT_TRUE(detail::holds_address(s, sa(any), sizeof any));
    EXPECT_TRUE(detail::holds_address(s, sa(any6), sizeof any6));
    EXPECT_TRUE(detail::holds_address(s, sa(mapped), sizeof mapped));

    detail::BoundSocket wildcard6;
    wildcard6.family = AF_INET6;
    wildcard6.port = 1024;
    EXPECT_TRUE(detail::holds_address(wildcard6, sa(other), sizeof other));
    wildcard6.v6only = true;
    EXPECT_FALSE(detail::holds_address(wildcard6, sa(other), sizeof other));
    const auto loop6 = v6("::1", 1024);
    EXPECT_TRUE(detail::holds_address(wildcard6, sa(loop6), sizeof loop6));
    EXPECT_FALSE(detail::holds_address(s, sa(loop6), sizeof loop6));
}
