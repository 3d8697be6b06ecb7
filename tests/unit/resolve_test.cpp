#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nettool/resolve.hpp>
#include <sys/un.h>

using namespace nettool;

namespace {
SocketAddress v4(const char* text, std::uint16_t port) {
    return *SocketAddress::numeric(text, port);
}
SocketAddress v6(const char* text, std::uint16_t port) {
    return *SocketAddress::numeric(text, port);
}
} // namespace

TEST(SocketAddress, FormatsAddressesWithPorts) {
    EXPECT_EQ(v4("127.0.0.1", 80).display(), "127.0.0.1:80");
    EXPECT_EQ(v6("::1", 8080).display(), "[::1]:8080");
    EXPECT_EQ(v6("::1", 8080).host(), "::1");
    EXPECT_EQ(v6("::1", 8080).port(), 8080);
    EXPECT_EQ(v6("::ffff:10.1.2.3", 1).host(), "10.1.2.3"); // an IPv4 peer of a dual-stack socket
    EXPECT_FALSE(SocketAddress::numeric("localhost"));
    EXPECT_FALSE(SocketAddress::numeric(""));
    EXPECT_EQ(SocketAddress::any(AF_INET6, 7).display(), "[::]:7");
    EXPECT_EQ(SocketAddress::loopback(AF_INET, 7).display(), "127.0.0.1:7");
    EXPECT_EQ(SocketAddress().display(), "(no address)");
}

TEST(SocketAddress, UnixAddressesRoundTrip) {
    Endpoint path{Transport::unix_stream, "", 0, "/run/x.sock", false};
    EXPECT_EQ(SocketAddress::unix_socket(path).display(), "unix:/run/x.sock");
    EXPECT_EQ(SocketAddress::unix_socket(path).host(), "/run/x.sock");
    Endpoint abstract{Transport::unix_stream, "", 0, "name", true};
    const SocketAddress a = SocketAddress::unix_socket(abstract);
    // An abstract name is exactly its bytes after the NUL: no terminator counted.
    EXPECT_EQ(a.length(), offsetof(sockaddr_un, sun_path) + 1 + 4);
    EXPECT_EQ(a.display(), "unix:@name");
    sockaddr_un unnamed{};
    unnamed.sun_family = AF_UNIX;
    EXPECT_EQ(
        SocketAddress(reinterpret_cast<const sockaddr*>(&unnamed), sizeof(sa_family_t)).display(),
        "unix:(unnamed)");
}

TEST(Resolve, ListeningShorthands) {
    auto all = resolve("*", 80, Transport::tcp, Family::any, ResolveFor::listening);
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ(all->front().display(), "[::]:80");
    auto local = resolve("localhost", 81, Transport::udp, Family::any, ResolveFor::listening);
    ASSERT_TRUE(local);
    ASSERT_EQ(local->size(), 2u);
    EXPECT_EQ((*local)[0].display(), "127.0.0.1:81");
    EXPECT_EQ((*local)[1].display(), "[::1]:81");
    auto bad = resolve("nosuch.invalid", 80, Transport::tcp, Family::any, ResolveFor::listening);
    ASSERT_FALSE(bad);
    EXPECT_TRUE(bad.error().message.starts_with("cannot resolve 'nosuch.invalid' to listen on: "))
        << bad.error().message;
}

TEST(Resolve, NumericHostsResolveWithThePort) {
    auto r = resolve("127.0.0.1", 4242, Transport::tcp, Family::any);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(r->front().display(), "127.0.0.1:4242");
}

TEST(Resolve, FamilyRestrictionIsHonoured) {
    auto r = resolve("127.0.0.1", 1, Transport::tcp, Family::ipv6);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::network);
    EXPECT_NE(r.error().message.find("cannot resolve '127.0.0.1' to an IPv6 address"),
              std::string::npos)
        << r.error().message;
}

TEST(Resolve, UnresolvableNameIsANetworkErrorNamingTheHost) {
    auto r = resolve("nosuch.invalid", 80, Transport::tcp, Family::any);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::network);
    EXPECT_TRUE(r.error().message.starts_with("cannot resolve 'nosuch.invalid': "))
        << r.error().message;
}

TEST(Resolve, InterleavesFamiliesStartingWithTheFirst) {
    const std::vector<SocketAddress> in = {v6("::1", 1), v6("::2", 1), v6("::3", 1),
                                           v4("10.0.0.1", 1), v4("10.0.0.2", 1)};
    const auto out = interleave_families(in);
    std::vector<std::string> names;
    for (const auto& a : out)
        names.push_back(a.host());
    EXPECT_EQ(names, (std::vector<std::string>{"::1", "10.0.0.1", "::2", "10.0.0.2", "::3"}));
    const auto v4_first = interleave_families({v4("10.0.0.1", 1), v6("::1", 1), v6("::2", 1)});
    EXPECT_EQ(v4_first[0].host(), "10.0.0.1");
    EXPECT_EQ(v4_first[1].host(), "::1");
    EXPECT_TRUE(interleave_families({}).empty());
}

TEST(Resolve, ParsesSourceAddresses) {
    auto a = parse_source_address("127.0.0.1");
    ASSERT_TRUE(a);
    ASSERT_TRUE(a->address);
    EXPECT_EQ(a->port, 0);
    EXPECT_EQ(a->address->host(), "127.0.0.1");

    auto b = parse_source_address("127.0.0.1:5000");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->port, 5000);

    auto c = parse_source_address("[::1]:6000");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->address->family(), AF_INET6);
    EXPECT_EQ(c->port, 6000);

    auto d = parse_source_address("::1");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->address->family(), AF_INET6);

    auto e = parse_source_address(":7000");
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->address);
    EXPECT_EQ(e->port, 7000);
    const auto local = source_for_family(*e, AF_INET6);
    ASSERT_TRUE(local);
    EXPECT_EQ(local->display(), "[::]:7000");
    EXPECT_FALSE(source_for_family(*b, AF_INET6)); // an IPv4 source cannot serve IPv6
}

TEST(Resolve, RejectsBadSourceAddresses) {
    for (const char* bad :
         {"", "localhost", "127.0.0.1:", "127.0.0.1:70000", "[::1", "[::1]x", "1.2.3.4:http"}) {
        auto r = parse_source_address(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, ErrorKind::usage);
        EXPECT_TRUE(r.error().message.starts_with("bad source address")) << r.error().message;
    }
}
