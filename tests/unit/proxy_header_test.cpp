#include <gtest/gtest.h>
#include <nettool/proxy_header.hpp>
#include <string>
#include <vector>

using namespace nettool;

namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Result<ProxyScan> scan(const std::string& s) {
    return scan_proxy_header(bytes(s));
}

const std::string k_signature("\r\n\r\n\0\r\nQUIT\n", 12);

std::string v2(std::uint8_t command, std::uint8_t family, const std::string& body) {
    std::string out = k_signature;
    out += static_cast<char>(0x20 | command);
    out += static_cast<char>(family);
    out += static_cast<char>(body.size() >> 8);
    out += static_cast<char>(body.size() & 0xFF);
    return out + body;
}

} // namespace

TEST(ProxyHeader, V1Tcp4) {
    const std::string line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
    auto r = scan(line + "GET /");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r->header);
    EXPECT_EQ(r->header->length, line.size());
    EXPECT_FALSE(r->header->local);
    EXPECT_EQ(r->header->source->display(), "192.0.2.1:56324");
    EXPECT_EQ(r->header->destination->display(), "198.51.100.2:443");
}

TEST(ProxyHeader, V1Tcp6AndUnknown) {
    auto r = scan("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
    ASSERT_TRUE(r && r->header);
    EXPECT_EQ(r->header->source->display(), "[2001:db8::1]:1");
    auto u = scan("PROXY UNKNOWN whatever is here\r\nrest");
    ASSERT_TRUE(u && u->header);
    EXPECT_FALSE(u->header->source);
    EXPECT_EQ(u->header->length, 32u);
    auto shortest = scan("PROXY UNKNOWN\r\n");
    ASSERT_TRUE(shortest && shortest->header);
}

TEST(ProxyHeader, IncompleteSaysHowMuchIsHeader) {
    for (const std::string& partial : std::vector<std::string>{
             "P", "PROXY", "PROXY TCP4 1.2.3.4", "PROXY UNKNOWN\r", std::string(k_signature, 0, 5),
             k_signature + "\x21\x11", v2(1, 0x11, "abcdefghijkl").substr(0, 20)}) {
        auto r = scan(partial);
        ASSERT_TRUE(r) << partial << ": " << r.error().message;
        EXPECT_FALSE(r->header);
        EXPECT_EQ(r->header_bytes, partial.size());
    }
    auto empty = scan("");
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->header_bytes, 0u);
}

TEST(ProxyHeader, V1Malformed) {
    for (const std::string& bad : std::vector<std::string>{
             "GET / HTTP/1.1\r\n",
             "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",             // LF alone
             "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",            // CR alone
             "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",          // leading zero
             "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",       // port range
             "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",          // octal-looking address
             "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",               // wrong family
             "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",          // two spaces
             "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",             // a port missing
             "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",           // protocol
             "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",          // sign
             "PROXY \r\n",                                   // nothing
             "PROXY TCP4 " + std::string(200, '1') + "\r\n", // too long
             "PROXY UNKNOWN " + std::string(100, 'x'),       // no CRLF within 107
         }) {
        auto r = scan(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind, ErrorKind::protocol);
        EXPECT_NE(r.error().message.find("PROXY protocol header"), std::string::npos);
    }
    // The longest line the spec allows (107 bytes with CRLF) is accepted.
    const std::string longest =
        "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:"
        "ffff:ffff 65535 65535\r\n";
    ASSERT_EQ(longest.size(), 107u);
    EXPECT_TRUE(scan(longest) && scan(longest)->header);
}

TEST(ProxyHeader, V2Inet) {
    const std::string body("\xC0\x00\x02\x01\xC6\x33\x64\x02\xDC\x04\x01\xBB", 12);
    auto r = scan(v2(1, 0x11, body) + "data");
    ASSERT_TRUE(r && r->header) << (r ? "" : r.error().message);
    EXPECT_EQ(r->header->length, 28u);
    EXPECT_EQ(r->header->source->display(), "192.0.2.1:56324");
    EXPECT_EQ(r->header->destination->display(), "198.51.100.2:443");
}

TEST(ProxyHeader, V2TlvsSkippedLocalAndUnspec) {
    const std::string body("\x7F\x00\x00\x01\x7F\x00\x00\x02\x00\x50\x00\x51"
                           "\x01\x00\x02h2",
                           17);
    auto r = scan(v2(1, 0x11, body));
    ASSERT_TRUE(r && r->header);
    EXPECT_EQ(r->header->length, 16u + 17u);
    EXPECT_EQ(r->header->source->display(), "127.0.0.1:80");
    // LOCAL: addresses present but ignored.
    auto local = scan(v2(0, 0x11, body));
    ASSERT_TRUE(local && local->header);
    EXPECT_TRUE(local->header->local);
    EXPECT_FALSE(local->header->source);
    auto unspec = scan(v2(1, 0x00, ""));
    ASSERT_TRUE(unspec && unspec->header);
    EXPECT_FALSE(unspec->header->source);
    auto unix_family = scan(v2(1, 0x31, std::string(216, '\0')));
    ASSERT_TRUE(unix_family && unix_family->header);
    EXPECT_FALSE(unix_family->header->source);
}

TEST(ProxyHeader, V2Malformed) {
    for (const std::string& bad : std::vector<std::string>{
             v2(2, 0x11, std::string(12, '\0')),                       // command 2
             k_signature + "\x11\x11\x00\x0c" + std::string(12, '\0'), // version 1
             v2(1, 0x41, std::string(12, '\0')),                       // family 4
             v2(1, 0x13, std::string(12, '\0')),                       // protocol 3
             v2(1, 0x11, std::string(11, '\0')),                       // too short for IPv4
             v2(1, 0x21, std::string(12, '\0')),                       // too short for IPv6
             std::string("\r\n\r\n\0\r\nQUIX\n", 12),                  // signature
         }) {
        auto r = scan(bad);
        ASSERT_FALSE(r) << bad.size();
        EXPECT_EQ(r.error().kind, ErrorKind::protocol);
    }
    auto huge = scan(k_signature + std::string("\x21\x11\xff\xff", 4));
    ASSERT_FALSE(huge);
    EXPECT_NE(huge.error().message.find("more than"), std::string::npos);
}

TEST(ProxyHeader, FormatReadsBack) {
    const auto from = *SocketAddress::numeric("192.0.2.1", 1234);
    const auto to = *SocketAddress::numeric("198.51.100.2", 80);
    EXPECT_EQ(format_proxy_header(ProxyVersion::v1, from, to),
              "PROXY TCP4 192.0.2.1 198.51.100.2 1234 80\r\n");
    for (const auto version : {ProxyVersion::v1, ProxyVersion::v2}) {
        const std::string header = format_proxy_header(version, from, to);
        auto r = scan(header);
        ASSERT_TRUE(r && r->header);
        EXPECT_EQ(r->header->length, header.size());
        EXPECT_EQ(*r->header->source, from);
        EXPECT_EQ(*r->header->destination, to);
    }
    const auto from6 = *SocketAddress::numeric("2001:db8::7", 5);
    const auto to6 = *SocketAddress::numeric("::1", 6);
    auto r6 = scan(format_proxy_header(ProxyVersion::v2, from6, to6));
    ASSERT_TRUE(r6 && r6->header);
    EXPECT_EQ(r6->header->source->display(), "[2001:db8::7]:5");
    // An IPv4 client on a dual-stack socket is sent as IPv4.
    const auto mapped = *SocketAddress::numeric("::ffff:192.0.2.9", 7);
    const auto mapped_to = *SocketAddress::numeric("::ffff:127.0.0.1", 8);
    EXPECT_EQ(format_proxy_header(ProxyVersion::v1, mapped, mapped_to),
              "PROXY TCP4 192.0.2.9 127.0.0.1 7 8\r\n");
    // One IPv4-mapped address of two IPv6 ones: both stay IPv6 (found by the fuzzer).
    const auto plain6 = *SocketAddress::numeric("::", 5);
    const auto mapped6 = *SocketAddress::numeric("::ffff:255.255.0.255", 6);
    auto both6 = scan(format_proxy_header(ProxyVersion::v2, plain6, mapped6));
    ASSERT_TRUE(both6 && both6->header && both6->header->source);
    EXPECT_EQ(*both6->header->source, plain6);
    EXPECT_EQ(*both6->header->destination, mapped6);
    EXPECT_EQ(format_proxy_header(ProxyVersion::v1, plain6, mapped6),
              "PROXY TCP6 :: ::ffff:255.255.0.255 5 6\r\n");
    // Mixed or non-IP pairs: UNKNOWN / UNSPEC.
    EXPECT_EQ(format_proxy_header(ProxyVersion::v1, from, to6), "PROXY UNKNOWN\r\n");
    auto unspec = scan(format_proxy_header(ProxyVersion::v2, SocketAddress(), to));
    ASSERT_TRUE(unspec && unspec->header);
    EXPECT_FALSE(unspec->header->source);
}
