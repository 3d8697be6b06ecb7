#include <gtest/gtest.h>

#include <nettool/endpoint.hpp>

using namespace nettool;

TEST(Endpoint, BarePortMeansLocalhost) {
    auto ep = parse_endpoint("1024");
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->host, "localhost");
    EXPECT_EQ(ep->port, 1024);
    EXPECT_EQ(ep->transport, Transport::tcp);
}

TEST(Endpoint, HostPortForms) {
    auto v4 = parse_endpoint("127.0.0.1:80");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->host, "127.0.0.1");
    EXPECT_EQ(v4->port, 80);

    auto v6 = parse_endpoint("[::1]:8080");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->display(), "[::1]:8080");

    auto all = parse_endpoint("*:8080");
    ASSERT_TRUE(all);
    EXPECT_EQ(all->host, "*");

    auto udp = parse_endpoint("udp://example.org:53");
    ASSERT_TRUE(udp);
    EXPECT_EQ(udp->transport, Transport::udp);
    EXPECT_EQ(udp->display(), "udp://example.org:53");

    auto tcp = parse_endpoint("tcp://localhost:22", Transport::udp);
    ASSERT_TRUE(tcp);
    EXPECT_EQ(tcp->transport, Transport::tcp);

    auto dflt_udp = parse_endpoint("localhost:22", Transport::udp);
    ASSERT_TRUE(dflt_udp);
    EXPECT_EQ(dflt_udp->transport, Transport::udp);
}

TEST(Endpoint, UnixPathsAndAbstractNames) {
    auto path = parse_endpoint("unix:/tmp/x.sock");
    ASSERT_TRUE(path);
    EXPECT_EQ(path->transport, Transport::unix_stream);
    EXPECT_EQ(path->unix_path, "/tmp/x.sock");
    EXPECT_FALSE(path->abstract);

    auto abstract = parse_endpoint("unix:@name");
    ASSERT_TRUE(abstract);
    EXPECT_TRUE(abstract->abstract);
    EXPECT_EQ(abstract->unix_path, "name");
    EXPECT_EQ(abstract->display(), "unix:@name");
}

TEST(Endpoint, PortZeroOnlyWhenAllowed) {
    EXPECT_FALSE(parse_endpoint("localhost:0"));
    EXPECT_TRUE(parse_endpoint("localhost:0", Transport::tcp, PortRule::allow_zero));
}

TEST(Endpoint, BadInputIsAUsageErrorWithASentence) {
    const std::pair<const char*, const char*> cases[] = {
        {"", "empty endpoint"},
        {"localhost:70000", "out of range"},
        {"localhost:http", "not a number"},
        {"[::1:80", "missing ']'"},
        {"[::1]80", "expected ':PORT'"},
        {"::1:80", "brackets"},
        {":80", "host is empty"},
        {"unix:", "path is empty"},
        {"ftp://x:1", "unknown scheme"},
        {"localhost", "no port"},
        {"bad host:80", "not a valid host"},
        {"[1.2.3.4]:80", "IPv6"},
    };
    for (const auto& [text, expected] : cases) {
        auto result = parse_endpoint(text);
        ASSERT_FALSE(result) << text;
        EXPECT_EQ(result.error().kind, ErrorKind::usage) << text;
        EXPECT_NE(result.error().message.find(expected), std::string::npos)
            << text << " -> " << result.error().message;
    }
}

TEST(PortRange, SingleAndRange) {
    auto one = parse_port_range("22");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->first, 22);
    EXPECT_EQ(one->last, 22);
    auto range = parse_port_range("20-25");
    ASSERT_TRUE(range);
    EXPECT_EQ(range->first, 20);
    EXPECT_EQ(range->last, 25);
    EXPECT_FALSE(parse_port_range("25-20"));
    EXPECT_FALSE(parse_port_range("0-5"));
    EXPECT_FALSE(parse_port_range("1-"));
    EXPECT_FALSE(parse_port_range("a-b"));
}

// Found by fuzzing: "unix:80" reads back as a Unix socket path.
TEST(Endpoint, DisplayReadsBackAsTheSameEndpoint) {
    auto named_unix = parse_endpoint("tcp://unix:80");
    ASSERT_TRUE(named_unix);
    EXPECT_EQ(named_unix->display(), "tcp://unix:80");
    for (const char* text : {"tcp://unix:80", "udp://unix:53", "[::1]:80", "unix:@@x", "*:1", "9"}) {
        auto endpoint = parse_endpoint(text);
        ASSERT_TRUE(endpoint) << text;
        auto again = parse_endpoint(endpoint->display());
        ASSERT_TRUE(again) << endpoint->display();
        EXPECT_EQ(again->transport, endpoint->transport) << text;
        EXPECT_EQ(again->host, endpoint->host) << text;
        EXPECT_EQ(again->port, endpoint->port) << text;
        EXPECT_EQ(again->unix_path, endpoint->unix_path) << text;
    }
}
