// connect --proxy's failures: the exit code and sentence for each way a proxy can say no,
// from libcurl's facts (the SOCKS reply, the CONNECT status), never from its text.
#include "http/curl_tunnel.hpp"

#include <gtest/gtest.h>
#include <nettool/http/url.hpp>

using nettool::ErrorKind;
using nettool::http::describe_tunnel_failure;
using nettool::http::TunnelFacts;

namespace {

TunnelFacts facts() {
    TunnelFacts f;
    f.proxy = "socks5h://u@proxy.test:1080";
    f.target = "localhost:80";
    return f;
}

TunnelFacts socks(long proxy_error) {
    TunnelFacts f = facts();
    f.proxy_error = proxy_error;
    return f;
}

TunnelFacts connect_status(long code, std::string line) {
    TunnelFacts f = facts();
    f.proxy = "http://proxy.test:3128";
    f.connect_code = code;
    f.status_line = std::move(line);
    f.reply_bytes = 40;
    return f;
}

} // namespace

TEST(TunnelFailure, SocksRefusalsAreNetworkErrorsWithTheProxysReason) {
    auto failure = describe_tunnel_failure(CURLE_PROXY, socks(CURLPX_REPLY_CONNECTION_REFUSED));
    EXPECT_EQ(failure.error.kind, ErrorKind::network);
    EXPECT_EQ(failure.error.message, "the proxy socks5h://u@proxy.test:1080 refused to connect to "
                                     "localhost:80: connection refused (reply 5)");
    EXPECT_TRUE(failure.transient);
    failure = describe_tunnel_failure(CURLE_PROXY, socks(CURLPX_REPLY_NOT_ALLOWED));
    EXPECT_EQ(failure.error.kind, ErrorKind::network);
    EXPECT_NE(failure.error.message.find("not allowed by its rules (reply 2)"), std::string::npos);
    EXPECT_FALSE(failure.transient); // the rules will say the same again
}

TEST(TunnelFailure, SocksAuthFailuresAreAuthErrors) {
    auto rejected = describe_tunnel_failure(CURLE_PROXY, socks(CURLPX_USER_REJECTED));
    EXPECT_EQ(rejected.error.kind, ErrorKind::auth);
    TunnelFacts none = socks(CURLPX_NO_AUTH);
    auto required = describe_tunnel_failure(CURLE_PROXY, none);
    EXPECT_EQ(required.error.kind, ErrorKind::auth);
    EXPECT_NE(required.error.message, rejected.error.message);
    EXPECT_NE(required.error.message.find("requires authentication"), std::string::npos);
}

TEST(TunnelFailure, LyingSocksProxiesAreProtocolErrorsAndClosingOnesNetworkErrors) {
    for (long code : {CURLPX_BAD_VERSION, CURLPX_BAD_ADDRESS_TYPE, CURLPX_REPLY_UNASSIGNED})
        EXPECT_EQ(describe_tunnel_failure(CURLE_PROXY, socks(code)).error.kind, ErrorKind::protocol)
            << code;
    for (long code : {CURLPX_CLOSED, CURLPX_RECV_CONNECT, CURLPX_RECV_AUTH, CURLPX_SEND_CONNECT})
        EXPECT_EQ(describe_tunnel_failure(CURLE_PROXY, socks(code)).error.kind, ErrorKind::network)
            << code;
}

TEST(TunnelFailure, ConnectStatusesNameTheProxyAndItsReason) {
    auto forbidden = describe_tunnel_failure(
        CURLE_RECV_ERROR, connect_status(403, "HTTP/1.1 403 Forbidden by policy\r\n"));
    EXPECT_EQ(forbidden.error.kind, ErrorKind::network);
    EXPECT_EQ(forbidden.error.message, "the proxy http://proxy.test:3128 refused to connect to "
                                       "localhost:80: HTTP 403 Forbidden by policy");
    EXPECT_FALSE(forbidden.transient);
    EXPECT_TRUE(
        describe_tunnel_failure(CURLE_RECV_ERROR, connect_status(502, "HTTP/1.1 502 Bad Gateway"))
            .transient);
    // A status line with control characters is shown without them, and bounded.
    auto odd = describe_tunnel_failure(
        CURLE_RECV_ERROR, connect_status(418, "HTTP/1.1 418 \x1b[31mtea" + std::string(500, 'x')));
    EXPECT_EQ(odd.error.message.find('\x1b'), std::string::npos);
    EXPECT_LT(odd.error.message.size(), 250u);
}

TEST(TunnelFailure, Http407IsAnAuthErrorWithOrWithoutCredentials) {
    TunnelFacts with = connect_status(407, "HTTP/1.1 407 Proxy Authentication Required");
    with.credentials_offered = true;
    TunnelFacts without = connect_status(407, "HTTP/1.1 407 Proxy Authentication Required");
    auto a = describe_tunnel_failure(CURLE_RECV_ERROR, with);
    auto b = describe_tunnel_failure(CURLE_RECV_ERROR, without);
    EXPECT_EQ(a.error.kind, ErrorKind::auth);
    EXPECT_EQ(b.error.kind, ErrorKind::auth);
    EXPECT_NE(a.error.message, b.error.message);
}

TEST(TunnelFailure, AnHttpProxyThatClosesOrSpeaksSomethingElse) {
    TunnelFacts closed = facts();
    closed.proxy = "http://proxy.test:3128";
    EXPECT_EQ(describe_tunnel_failure(CURLE_RECV_ERROR, closed).error.kind, ErrorKind::network);
    TunnelFacts garbage = closed;
    garbage.reply_bytes = 20; // lines came, none of them an HTTP status
    EXPECT_EQ(describe_tunnel_failure(CURLE_RECV_ERROR, garbage).error.kind, ErrorKind::protocol);
}

TEST(TunnelFailure, UnreachableProxiesAndTimeoutsAreTransient) {
    TunnelFacts f = facts();
    f.os_errno = ECONNREFUSED;
    auto refused = describe_tunnel_failure(CURLE_COULDNT_CONNECT, f);
    EXPECT_EQ(refused.error.kind, ErrorKind::network);
    EXPECT_TRUE(refused.transient);
    EXPECT_NE(refused.error.message.find("cannot reach the proxy"), std::string::npos);
    f.timeout_text = "2s";
    auto slow = describe_tunnel_failure(CURLE_OPERATION_TIMEDOUT, f);
    EXPECT_TRUE(slow.transient);
    EXPECT_NE(slow.error.message.find("after 2s"), std::string::npos);
}

TEST(ProxyUrlCheck, AMalformedProxysPasswordIsNotRepeated) {
    auto checked = nettool::http::check_proxy_url("socks5://user:s3cret@127.0.0.1:99999");
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().kind, ErrorKind::usage);
    EXPECT_EQ(checked.error().message.find("s3cret"), std::string::npos) << checked.error().message;
    EXPECT_NE(checked.error().message.find("socks5://user@127.0.0.1:99999"), std::string::npos);
}

TEST(TunnelFailure, AnUnresolvableProxyNameIsANetworkError) {
    for (CURLcode code : {CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST}) {
        auto failure = describe_tunnel_failure(code, facts());
        EXPECT_EQ(failure.error.kind, ErrorKind::network);
        EXPECT_NE(failure.error.message.find("cannot resolve the proxy"), std::string::npos);
    }
    // Anything else libcurl reports before a reply is about the connection, not a lying proxy.
    EXPECT_EQ(describe_tunnel_failure(CURLE_INTERFACE_FAILED, facts()).error.kind,
              ErrorKind::network);
}
