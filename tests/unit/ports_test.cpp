// `ports` against the real kernel: sockets this test process opens are found in the socket
// table (inet_diag, unix_diag) and traced back to getpid(); the filters pick them as documented.
#include "scratch_dir.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nettool/ports.hpp>
#include <nettool/unique_fd.hpp>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace nettool;

namespace {

std::string own_comm() {
    std::ifstream in("/proc/self/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

// A socket of `type` bound to IPv4 `address` port 0 (listening for TCP); returns the port.
std::uint16_t open_inet(UniqueFd& fd, int type, const char* address) {
    fd.reset(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    sockaddr_in in{};
    in.sin_family = AF_INET;
    EXPECT_EQ(::inet_pton(AF_INET, address, &in.sin_addr), 1);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
    if (type == SOCK_STREAM) {
        EXPECT_EQ(::listen(fd.get(), 4), 0);
    }
    socklen_t length = sizeof in;
    EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&in), &length), 0);
    return ntohs(in.sin_port);
}

void open_unix(UniqueFd& fd, int type, const std::string& name) {
    fd.reset(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, name.data(), name.size());
    if (name[0] == '@') un.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                               (name[0] == '@' ? 0 : 1));
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&un), length), 0) << name;
    if (type != SOCK_DGRAM) {
        ASSERT_EQ(::listen(fd.get(), 4), 0);
    }
}

std::vector<ListeningSocket> all_sockets() {
    auto sockets = listening_sockets(PortsQuery{});
    EXPECT_TRUE(sockets) << (sockets ? "" : sockets.error().message);
    return sockets ? *sockets : std::vector<ListeningSocket>{};
}

const ListeningSocket* find_port(const std::vector<ListeningSocket>& sockets, Transport t,
                                 std::uint16_t port) {
    for (const auto& s : sockets) {
        if (s.transport == t && s.local.port() == port) return &s;
    }
    return nullptr;
}

const ListeningSocket* find_unix(const std::vector<ListeningSocket>& sockets,
                                 const std::string& name) {
    for (const auto& s : sockets) {
        if (s.transport == Transport::unix_stream && s.local.host() == name) return &s;
    }
    return nullptr;
}

bool held_by_me(const ListeningSocket* s) {
    return s != nullptr && s->owners.size() == 1 && s->owners[0].pid == ::getpid() &&
           s->owners[0].program == own_comm();
}

PortsFilter filter(const std::string& text) {
    auto f = parse_ports_filter(text);
    EXPECT_TRUE(f) << text << ": " << (f ? "" : f.error().message);
    return f ? *f : PortsFilter{};
}

} // namespace

TEST(ListeningSockets, FindsThisProcessTcpUdpAndUnixListeners) {
    test::ScratchDir dir;
    UniqueFd tcp, udp, path, abstract, seqpacket;
    const auto tcp_port = open_inet(tcp, SOCK_STREAM, "127.0.0.1");
    const auto udp_port = open_inet(udp, SOCK_DGRAM, "127.0.0.1");
    open_unix(path, SOCK_STREAM, dir / "s.sock");
    const std::string abstract_name = "@nettool-ports-test-" + std::to_string(::getpid());
    open_unix(abstract, SOCK_STREAM, abstract_name);
    open_unix(seqpacket, SOCK_SEQPACKET, dir / "q.sock");

    const auto sockets = all_sockets();
    EXPECT_TRUE(held_by_me(find_port(sockets, Transport::tcp, tcp_port)));
    EXPECT_TRUE(held_by_me(find_port(sockets, Transport::udp, udp_port)));
    EXPECT_EQ(find_port(sockets, Transport::udp, tcp_port) != nullptr &&
                  held_by_me(find_port(sockets, Transport::udp, tcp_port)),
              false);
    EXPECT_TRUE(held_by_me(find_unix(sockets, dir / "s.sock")));
    EXPECT_TRUE(held_by_me(find_unix(sockets, abstract_name)));
    EXPECT_TRUE(held_by_me(find_unix(sockets, dir / "q.sock")));
    const auto* found = find_port(sockets, Transport::tcp, tcp_port);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->local.host(), "127.0.0.1");
}

TEST(ListeningSockets, LeavesOutConnectedUdpAndNonListeningSockets) {
    UniqueFd server, client, bound_stream;
    const auto server_port = open_inet(server, SOCK_DGRAM, "127.0.0.1");
    // A connected UDP socket is a client's, not a listener.
    client.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(server_port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    sockaddr_in mine{};
    socklen_t length = sizeof mine;
    ASSERT_EQ(::getsockname(client.get(), reinterpret_cast<sockaddr*>(&mine), &length), 0);
    // A bound TCP socket that does not listen takes no connections.
    bound_stream.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(bound_stream.get(), reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
    length = sizeof any;
    ASSERT_EQ(::getsockname(bound_stream.get(), reinterpret_cast<sockaddr*>(&any), &length), 0);

    const auto sockets = all_sockets();
    EXPECT_TRUE(held_by_me(find_port(sockets, Transport::udp, server_port)));
    EXPECT_EQ(find_port(sockets, Transport::udp, ntohs(mine.sin_port)), nullptr);
    EXPECT_EQ(find_port(sockets, Transport::tcp, ntohs(any.sin_port)), nullptr);
}

TEST(ListeningSockets, QueryPicksKinds) {
    UniqueFd tcp, udp;
    const auto tcp_port = open_inet(tcp, SOCK_STREAM, "127.0.0.1");
    const auto udp_port = open_inet(udp, SOCK_DGRAM, "127.0.0.1");
    auto only_udp = listening_sockets(PortsQuery{false, true, false});
    ASSERT_TRUE(only_udp);
    EXPECT_NE(find_port(*only_udp, Transport::udp, udp_port), nullptr);
    EXPECT_EQ(find_port(*only_udp, Transport::tcp, tcp_port), nullptr);
    EXPECT_TRUE(std::all_of(only_udp->begin(), only_udp->end(), [](const ListeningSocket& s) {
        return s.transport == Transport::udp;
    }));
}

TEST(ListeningSockets, SortedByTransportThenAddress) {
    const auto sockets = all_sockets();
    const auto rank = [](Transport t) {
        return t == Transport::tcp ? 0 : t == Transport::udp ? 1 : 2;
    };
    for (std::size_t i = 1; i < sockets.size(); ++i)
        EXPECT_LE(rank(sockets[i - 1].transport), rank(sockets[i].transport));
}

TEST(PortsFilter, BarePortIsEveryAddressTcpAndUdp) {
    UniqueFd tcp, udp;
    const auto tcp_port = open_inet(tcp, SOCK_STREAM, "127.0.0.1");
    const auto udp_port = open_inet(udp, SOCK_DGRAM, "127.0.0.1");
    const auto sockets = all_sockets();
    const auto* t = find_port(sockets, Transport::tcp, tcp_port);
    const auto* u = find_port(sockets, Transport::udp, udp_port);
    ASSERT_TRUE(t && u);
    EXPECT_TRUE(matches(filter(std::to_string(tcp_port)), *t));
    EXPECT_TRUE(matches(filter(std::to_string(udp_port)), *u));
    EXPECT_EQ(matches(filter(std::to_string(udp_port)), *t), tcp_port == udp_port);
    EXPECT_TRUE(matches(filter("tcp://127.0.0.1:" + std::to_string(tcp_port)), *t));
    EXPECT_FALSE(matches(filter("udp://127.0.0.1:" + std::to_string(tcp_port)), *t));
    EXPECT_TRUE(matches(filter("udp://*:" + std::to_string(udp_port)), *u));
    EXPECT_TRUE(matches(filter("localhost:" + std::to_string(udp_port)), *u));
    // Another address of the family: not where this socket listens.
    EXPECT_FALSE(matches(filter("127.0.0.2:" + std::to_string(tcp_port)), *t));
}

TEST(PortsFilter, WildcardSocketListensOnEveryAddress) {
    UniqueFd tcp;
    const auto port = open_inet(tcp, SOCK_STREAM, "0.0.0.0");
    const auto sockets = all_sockets();
    const auto* t = find_port(sockets, Transport::tcp, port);
    ASSERT_NE(t, nullptr);
    EXPECT_TRUE(matches(filter("127.0.0.1:" + std::to_string(port)), *t));
    EXPECT_TRUE(matches(filter("127.0.0.2:" + std::to_string(port)), *t));
    EXPECT_FALSE(matches(filter("[::1]:" + std::to_string(port)), *t)); // IPv4 only
}

TEST(PortsFilter, UnixByNameOrBySocketFile) {
    test::ScratchDir dir;
    UniqueFd path;
    open_unix(path, SOCK_STREAM, dir / "s.sock");
    const auto sockets = all_sockets();
    const auto* s = find_unix(sockets, dir / "s.sock");
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(matches(filter("unix:" + dir / "s.sock"), *s));
    // The same file spelled another way: found through its inode.
    EXPECT_TRUE(matches(filter("unix:" + dir.path() + "/./s.sock"), *s));
    EXPECT_FALSE(matches(filter("unix:" + dir / "other.sock"), *s));
    EXPECT_FALSE(matches(filter("unix:@" + dir / "s.sock"), *s));
    EXPECT_FALSE(matches(filter("1024"), *s));
}

TEST(PortsFilter, BadTextIsAUsageError) {
    for (const char* text : {"", "abc", "70000", "0", "ftp://x:1", "unix:"}) {
        auto f = parse_ports_filter(text);
        ASSERT_FALSE(f) << text;
        EXPECT_EQ(f.error().kind, ErrorKind::usage) << text;
    }
}
