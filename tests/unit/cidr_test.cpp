#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nettool/cidr.hpp>

using namespace nettool;

namespace {
SocketAddress v4(const char* text) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    ::inet_pton(AF_INET, text, &in.sin_addr);
    return SocketAddress(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}
SocketAddress v6(const char* text) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    ::inet_pton(AF_INET6, text, &in6.sin6_addr);
    return SocketAddress(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
}
} // namespace

TEST(Cidr, ParsesBlocksAndSingleAddresses) {
    auto block = parse_cidr("10.0.0.0/8");
    ASSERT_TRUE(block);
    EXPECT_EQ(block->prefix, 8);
    EXPECT_TRUE(block->contains(v4("10.200.3.4")));
    EXPECT_FALSE(block->contains(v4("11.0.0.1")));
    auto host = parse_cidr("192.168.1.7");
    ASSERT_TRUE(host);
    EXPECT_EQ(host->prefix, 32);
    EXPECT_TRUE(host->contains(v4("192.168.1.7")));
    EXPECT_FALSE(host->contains(v4("192.168.1.8")));
}

TEST(Cidr, HostBitsAreIgnored) {
    auto block = parse_cidr("10.1.2.3/8");
    ASSERT_TRUE(block);
    EXPECT_TRUE(block->contains(v4("10.9.9.9")));
}

TEST(Cidr, Ipv6BlocksAndFamiliesDoNotMix) {
    auto block = parse_cidr("fd00::/8");
    ASSERT_TRUE(block);
    EXPECT_TRUE(block->contains(v6("fd12::1")));
    EXPECT_FALSE(block->contains(v6("fe80::1")));
    EXPECT_FALSE(block->contains(v4("10.0.0.1")));
    auto all4 = parse_cidr("0.0.0.0/0");
    ASSERT_TRUE(all4);
    EXPECT_FALSE(all4->contains(v6("::1")));
}

TEST(Cidr, MappedPeersMatchIpv4Rules) {
    auto block = parse_cidr("127.0.0.0/8");
    ASSERT_TRUE(block);
    EXPECT_TRUE(block->contains(v6("::ffff:127.0.0.1")));
    auto mapped_rule = parse_cidr("::ffff:10.0.0.0/104");
    ASSERT_TRUE(mapped_rule);
    EXPECT_EQ(mapped_rule->prefix, 8);
    EXPECT_TRUE(mapped_rule->contains(v4("10.1.1.1")));
}

TEST(Cidr, BadInputIsUsageError) {
    for (const char* bad :
         {"10.0.0.0/33", "::/129", "1.2.3", "10.0.0.0/", "10.0.0.0/x", "host", "", "/8"}) {
        auto parsed = parse_cidr(bad);
        ASSERT_FALSE(parsed) << bad;
        EXPECT_EQ(parsed.error().kind, ErrorKind::usage);
        EXPECT_NE(parsed.error().message.find(bad), std::string::npos);
    }
}

TEST(AccessRules, DenyWinsAndAllowRestricts) {
    AccessRules rules;
    EXPECT_TRUE(rules.permits(v4("1.2.3.4")));
    rules.allow.push_back(*parse_cidr("10.0.0.0/8"));
    rules.deny.push_back(*parse_cidr("10.0.0.5"));
    EXPECT_TRUE(rules.permits(v4("10.0.0.4")));
    EXPECT_FALSE(rules.permits(v4("10.0.0.5")));
    EXPECT_FALSE(rules.permits(v4("192.168.0.1")));
    EXPECT_FALSE(rules.permits(v6("::ffff:10.0.0.5")));
    EXPECT_TRUE(rules.permits(SocketAddress())); // Unix peers are not filtered
}
