// connect through a proxy, with a scripted engine: the proxy is given the name as typed (it
// resolves), the tunnel's socket is relayed like any connection, its failures come back
// unchanged, and --wait retries only the transient ones.
#include "fake_transfer_engine.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nettool/connect.hpp>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace nettool;
using std::chrono::milliseconds;

namespace {

class CountingObserver final : public ConnectObserver {
  public:
    void connected(const std::string& peer) override { peers.push_back(peer); }
    void retrying(const Error&, milliseconds, milliseconds) override { ++retries; }
    std::vector<std::string> peers;
    int retries = 0;
};

ConnectOptions proxied(test::FakeTransferEngine& engine) {
    ConnectOptions options;
    options.endpoint.transport = Transport::tcp;
    options.endpoint.host = "only-the-proxy-knows.invalid";
    options.endpoint.port = 4242;
    options.proxy = "socks5://user:pw@127.0.0.1:1080";
    options.tunnels = &engine;
    options.timeout = milliseconds{3000};
    return options;
}

http::Tunnel tunnel_over(int fd) {
    http::Tunnel tunnel;
    tunnel.fd = UniqueFd(fd);
    tunnel.proxy_shown = "socks5h://user@127.0.0.1:1080";
    tunnel.proxy_address = "127.0.0.1:1080";
    return tunnel;
}

http::TunnelFailure failure(ErrorKind kind, std::string message, bool transient) {
    return http::TunnelFailure{Error{kind, std::move(message)}, transient};
}

} // namespace

TEST(ConnectProxy, TheTunnelIsRelayedAndTheProxyGetsTheName) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ::fcntl(pair[0], F_SETFL, O_NONBLOCK);
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    test::FakeTransferEngine engine;
    engine.add_tunnel(tunnel_over(pair[0]));
    std::string seen;
    std::thread peer([&] {
        char buffer[64];
        ssize_t n;
        while ((n = ::read(pair[1], buffer, sizeof buffer)) > 0)
            seen.append(buffer, static_cast<std::size_t>(n));
        const char reply[] = "pong";
        ASSERT_EQ(::write(pair[1], reply, 4), 4);
        ::close(pair[1]);
    });
    ConnectOptions options = proxied(engine);
    options.send_text = "ping";
    options.output_fd = out[1];
    CountingObserver observer;
    auto status = connect(options, observer);
    peer.join();
    ::close(out[1]);
    ASSERT_TRUE(status) << status.error().message;
    char buffer[16] = {};
    EXPECT_EQ(::read(out[0], buffer, sizeof buffer), 4);
    ::close(out[0]);
    EXPECT_EQ(std::string(buffer), "pong");
    EXPECT_EQ(seen, "ping");
    ASSERT_EQ(engine.tunnel_requests().size(), 1u);
    const auto& request = engine.tunnel_requests()[0];
    EXPECT_EQ(request.host, "only-the-proxy-knows.invalid");
    EXPECT_EQ(request.port, 4242);
    EXPECT_EQ(request.proxy, "socks5://user:pw@127.0.0.1:1080");
    ASSERT_EQ(observer.peers.size(), 1u);
    EXPECT_EQ(observer.peers[0], "only-the-proxy-knows.invalid:4242 through the proxy "
                                 "socks5h://user@127.0.0.1:1080 (127.0.0.1:1080)");
}

TEST(ConnectProxy, AFailureComesBackUnchanged) {
    test::FakeTransferEngine engine;
    engine.add_tunnel(tl::unexpected(failure(ErrorKind::auth, "the proxy said no", false)));
    CountingObserver observer;
    ConnectOptions options = proxied(engine);
    options.send_text = "x";
    auto status = connect(options, observer);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind, ErrorKind::auth);
    EXPECT_EQ(status.error().message, "the proxy said no");
}

TEST(ConnectProxy, WaitRetriesTransientFailuresOnly) {
    test::FakeTransferEngine engine;
    engine.add_tunnel(tl::unexpected(failure(ErrorKind::network, "refused (reply 5)", true)));
    engine.add_tunnel(tl::unexpected(failure(ErrorKind::auth, "bad password", false)));
    CountingObserver observer;
    ConnectOptions options = proxied(engine);
    options.wait = milliseconds{5000};
    auto connected = open_connection(options, observer);
    ASSERT_FALSE(connected);
    EXPECT_EQ(connected.error().kind, ErrorKind::auth);
    EXPECT_EQ(observer.retries, 1);
    EXPECT_EQ(engine.tunnel_requests().size(), 2u);
    // Each attempt's time-out is what is left of the wait, at most -w.
    EXPECT_LE(*engine.tunnel_requests()[1].timeout, milliseconds{3000});
}
