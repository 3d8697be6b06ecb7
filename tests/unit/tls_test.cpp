// TLS (nettool/tls.hpp, OpenSSL linked directly here) and the bridge that puts it on the event
// loop (core/src/tls_bridge.hpp): contexts and their file errors, the verification sentences,
// half-close by close_notify in each direction, resets, truncation, the handshake's timeout.
// The server's certificate is a --tls-self-signed one, so no files are needed.
#include "tcp_pair.hpp"
#include "tls_bridge.hpp"

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <functional>
#include <gtest/gtest.h>
#include <nettool/tls.hpp>
#include <string>
#include <sys/socket.h>

using namespace nettool;
using namespace std::chrono_literals;
using nettool::testing::TcpPair;

namespace {

void nonblocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

tls::Context self_signed_server() {
    tls::ServerSettings settings;
    settings.self_signed = true;
    auto context = tls::Context::server(settings);
    EXPECT_TRUE(context) << context.error().message;
    return std::move(*context);
}

tls::Context insecure_client() {
    tls::ClientSettings settings;
    settings.host = "localhost";
    settings.insecure = true;
    auto context = tls::Context::client(settings);
    EXPECT_TRUE(context) << context.error().message;
    return std::move(*context);
}

// Drives two sessions' handshakes in turn (one thread, non-blocking) until both are done or
// one fails; returns the client's last result.
tls::IoResult handshake_both(tls::Session& client, tls::Session& server) {
    tls::IoResult c, s;
    for (int i = 0; i < 1000; ++i) {
        c = client.handshake();
        s = server.handshake();
        if (c.status == tls::IoStatus::failed || s.status == tls::IoStatus::failed) break;
        if (c.status == tls::IoStatus::ok && s.status == tls::IoStatus::ok) break;
        ::usleep(100);
    }
    return c;
}

void run_until(EventLoop& loop, const std::function<bool()>& until) {
    const auto end = std::chrono::steady_clock::now() + 10s;
    for (int i = 0; i < 100000 && !until() && std::chrono::steady_clock::now() < end; ++i)
        ASSERT_TRUE(loop.run_once(20ms));
    ASSERT_TRUE(until());
}

std::string read_available(int fd) {
    std::string out;
    char buffer[65536];
    while (true) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n <= 0) return out;
        out.append(buffer, static_cast<std::size_t>(n));
    }
}

// 0: end of file now; 1: would block; -1: error.
int eof_state(int fd) {
    char c;
    const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n == 0) return 0;
    if (n < 0 && errno == EAGAIN) return 1;
    return n < 0 ? -1 : 2;
}

} // namespace

// "AB:CD:...": 32 pairs of upper-case hex digits (no std::regex: GCC 12 warns inside it at -O1).
bool is_sha256_fingerprint(const std::string& text) {
    if (text.size() != 32 * 3 - 1) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool ok = i % 3 == 2 ? c == ':' : ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'));
        if (!ok) return false;
    }
    return true;
}

TEST(TlsContext, SelfSignedServerHasASha256Fingerprint) {
    const tls::Context server = self_signed_server();
    EXPECT_TRUE(is_sha256_fingerprint(server.fingerprint())) << server.fingerprint();
    // Made fresh each time.
    EXPECT_NE(self_signed_server().fingerprint(), server.fingerprint());
}

TEST(TlsContext, MissingFilesAreNamedAsLocalFileErrors) {
    tls::ClientSettings client;
    client.host = "localhost";
    client.ca_file = "/nonexistent/ca.pem";
    auto c = tls::Context::client(client);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, ErrorKind::file_io);
    EXPECT_NE(c.error().message.find("cannot read --cafile '/nonexistent/ca.pem'"),
              std::string::npos);
    EXPECT_EQ(c.error().sys_errno, ENOENT);

    tls::ServerSettings server;
    server.cert_file = "/nonexistent/cert.pem";
    server.key_file = "/nonexistent/key.pem";
    auto s = tls::Context::server(server);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, ErrorKind::file_io);
    EXPECT_NE(s.error().message.find("--cert '/nonexistent/cert.pem'"), std::string::npos);

    auto none = tls::Context::server(tls::ServerSettings{});
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().kind, ErrorKind::usage);
}

TEST(TlsSession, HandshakeDataAndCloseNotifyInsecure) {
    TcpPair pair;
    nonblocking(pair.peer.get());
    const tls::Context server_context = self_signed_server();
    const tls::Context client_context = insecure_client();
    auto client = client_context.session(pair.peer.get(), "localhost:1");
    auto server = server_context.session(pair.ours.get(), "127.0.0.1:2");
    ASSERT_TRUE(client && server);
    const auto result = handshake_both(*client, *server);
    ASSERT_EQ(result.status, tls::IoStatus::ok) << result.error.message;
    EXPECT_EQ(client->peer().subject, ""); // not verified: not reported
    EXPECT_EQ(client->peer().protocol, "TLSv1.3");

    const std::string text = "over TLS";
    const auto w = client->write(text);
    ASSERT_EQ(w.status, tls::IoStatus::ok);
    EXPECT_EQ(w.bytes, text.size());
    ASSERT_EQ(client->shutdown().status, tls::IoStatus::ok);
    std::string got(64, '\0');
    tls::IoResult r;
    for (int i = 0; i < 1000; ++i) {
        r = server->read(got);
        if (r.status != tls::IoStatus::want_read) break;
        ::usleep(100);
    }
    ASSERT_EQ(r.status, tls::IoStatus::ok);
    EXPECT_EQ(got.substr(0, r.bytes), text);
    // The client's close_notify: its data ended, cleanly; the server can still write.
    do {
        r = server->read(got);
    } while (r.status == tls::IoStatus::want_read);
    EXPECT_EQ(r.status, tls::IoStatus::closed);
    EXPECT_EQ(server->write(std::string("reply")).status, tls::IoStatus::ok);
    do {
        r = client->read(got);
    } while (r.status == tls::IoStatus::want_read);
    ASSERT_EQ(r.status, tls::IoStatus::ok);
    EXPECT_EQ(got.substr(0, r.bytes), "reply");
}

TEST(TlsSession, SelfSignedServerFailsVerificationWithItsSentence) {
    TcpPair pair;
    nonblocking(pair.peer.get());
    const tls::Context server_context = self_signed_server();
    tls::ClientSettings settings;
    settings.host = "localhost";
    auto client_context = tls::Context::client(settings); // the system's CAs
    ASSERT_TRUE(client_context);
    auto client = client_context->session(pair.peer.get(), "localhost:443");
    auto server = server_context.session(pair.ours.get(), "127.0.0.1:2");
    ASSERT_TRUE(client && server);
    const auto result = handshake_both(*client, *server);
    ASSERT_EQ(result.status, tls::IoStatus::failed);
    EXPECT_EQ(result.error.kind, ErrorKind::tls);
    EXPECT_NE(result.error.message.find("localhost:443 presented a self-signed certificate "
                                        "(subject CN=nettool self-signed)"),
              std::string::npos)
        << result.error.message;
    EXPECT_NE(result.error.message.find("--cafile"), std::string::npos);
}

// serve --to-tls spells the same options with --to- in front; its sentences must say so.
TEST(TlsSession, SentencesNameTheOptionsAsSpelled) {
    tls::ClientSettings missing;
    missing.host = "localhost";
    missing.option_prefix = "--to-";
    missing.ca_file = "/nonexistent/ca.pem";
    auto c = tls::Context::client(missing);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("cannot read --to-cafile '/nonexistent/ca.pem'"),
              std::string::npos)
        << c.error().message;
    missing.ca_file.reset();
    missing.cert_file = "/nonexistent/cert.pem";
    missing.key_file = "/nonexistent/key.pem";
    c = tls::Context::client(missing);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("--to-cert '/nonexistent/cert.pem'"), std::string::npos);

    TcpPair pair;
    nonblocking(pair.peer.get());
    const tls::Context server_context = self_signed_server();
    tls::ClientSettings settings;
    settings.host = "localhost";
    settings.option_prefix = "--to-";
    auto client_context = tls::Context::client(settings);
    ASSERT_TRUE(client_context);
    auto client = client_context->session(pair.peer.get(), "backend:443");
    auto server = server_context.session(pair.ours.get(), "127.0.0.1:2");
    ASSERT_TRUE(client && server);
    const auto result = handshake_both(*client, *server);
    ASSERT_EQ(result.status, tls::IoStatus::failed);
    EXPECT_NE(result.error.message.find("give that certificate with --to-cafile FILE (or skip "
                                        "verification with --to-insecure)"),
              std::string::npos)
        << result.error.message;
}

TEST(TlsSession, PlainTextPeerDoesNotSpeakTls) {
    TcpPair pair;
    const tls::Context client_context = insecure_client();
    auto client = client_context.session(pair.ours.get(), "localhost:25");
    ASSERT_TRUE(client);
    const std::string banner = "220 mail.example ESMTP ready\r\n";
    ASSERT_EQ(::send(pair.peer.get(), banner.data(), banner.size(), 0),
              static_cast<ssize_t>(banner.size()));
    tls::IoResult r;
    for (int i = 0; i < 1000; ++i) {
        r = client->handshake();
        if (r.status != tls::IoStatus::want_read) break;
        ::usleep(100);
    }
    ASSERT_EQ(r.status, tls::IoStatus::failed);
    EXPECT_EQ(r.error.kind, ErrorKind::tls);
    EXPECT_NE(r.error.message.find("localhost:25 does not speak TLS"), std::string::npos)
        << r.error.message;
}

// Two bridges back to back on one loop, as `connect --tls` and `serve --tls` meet.
struct BridgePair {
    TcpPair tcp;
    tls::Context server_context = self_signed_server();
    tls::Context client_context = insecure_client();
    Result<EventLoop> loop = EventLoop::create();
    std::unique_ptr<TlsBridge> client, server;
    UniqueFd client_plain, server_plain;

    BridgePair() {
        nonblocking(tcp.peer.get());
        auto c = client_context.session(tcp.peer.get(), "server");
        auto s = server_context.session(tcp.ours.get(), "client");
        EXPECT_TRUE(c && s && loop);
        client = std::move(
            *TlsBridge::create(*loop, std::move(tcp.peer), std::move(*c), {"server", 5s}, nullptr));
        server = std::move(
            *TlsBridge::create(*loop, std::move(tcp.ours), std::move(*s), {"client", 5s}, nullptr));
        client_plain = client->take_plain_end();
        server_plain = server->take_plain_end();
        client->start();
        server->start();
    }
};

TEST(TlsBridge, HalfCloseEachWayByCloseNotify) {
    BridgePair p;
    run_until(*p.loop, [&] { return p.client->handshake_done() && p.server->handshake_done(); });
    // The client's end of data reaches the server as end-of-file, and the server still sends.
    ASSERT_EQ(::send(p.client_plain.get(), "question", 8, 0), 8);
    ::shutdown(p.client_plain.get(), SHUT_WR);
    std::string at_server;
    run_until(*p.loop, [&] {
        at_server += read_available(p.server_plain.get());
        return eof_state(p.server_plain.get()) == 0;
    });
    EXPECT_EQ(at_server, "question");
    const std::string answer(200'000, 'a');
    std::string at_client;
    std::size_t sent = 0;
    run_until(*p.loop, [&] {
        if (sent < answer.size()) {
            const ssize_t n = ::send(p.server_plain.get(), answer.data() + sent,
                                     answer.size() - sent, MSG_DONTWAIT);
            if (n > 0) sent += static_cast<std::size_t>(n);
            if (sent == answer.size()) ::shutdown(p.server_plain.get(), SHUT_WR);
        }
        at_client += read_available(p.client_plain.get());
        return eof_state(p.client_plain.get()) == 0;
    });
    EXPECT_EQ(at_client, answer);
    // Both owners are done: released, the bridges finish without a failure.
    p.client_plain.reset();
    p.server_plain.reset();
    p.client->release();
    p.server->release();
    run_until(*p.loop, [&] { return p.client->done() && p.server->done(); });
    EXPECT_TRUE(p.client->result());
    EXPECT_TRUE(p.server->result());
}

TEST(TlsBridge, ReleaseSendsWhatTheOwnerWroteBeforeClosing) {
    BridgePair p;
    // The owner writes and closes at once, before the handshake is even done (a greeting).
    ASSERT_EQ(::send(p.server_plain.get(), "greeting", 8, 0), 8);
    p.server_plain.reset();
    p.server->release();
    std::string at_client;
    run_until(*p.loop, [&] {
        at_client += read_available(p.client_plain.get());
        return eof_state(p.client_plain.get()) == 0;
    });
    EXPECT_EQ(at_client, "greeting");
    EXPECT_TRUE(p.client->result());
}

// A server-side bridge (peer "127.0.0.1:5000") and a bare client session that the test
// drives by hand (to end the TCP connection in ways a well-behaved bridge never would),
// handshake done.
struct BridgeAndBareClient {
    TcpPair tcp;
    tls::Context server_context = self_signed_server();
    tls::Context client_context = insecure_client();
    Result<EventLoop> loop = EventLoop::create();
    std::optional<tls::Session> client;
    std::unique_ptr<TlsBridge> bridge;
    UniqueFd plain;

    BridgeAndBareClient() {
        nonblocking(tcp.peer.get());
        auto server_session = server_context.session(tcp.ours.get(), "client");
        auto c = client_context.session(tcp.peer.get(), "localhost:9");
        EXPECT_TRUE(loop && server_session && c);
        client.emplace(std::move(*c));
        bridge =
            std::move(*TlsBridge::create(*loop, std::move(tcp.ours), std::move(*server_session),
                                         {"127.0.0.1:5000", 5s}, nullptr));
        plain = bridge->take_plain_end();
        bridge->start();
        run_until(*loop, [&] { return client->handshake().status == tls::IoStatus::ok; });
    }
};

// nginx's way: once the client's close_notify has arrived it closes the TCP connection
// without its own. After ours, that is the peer's end of data, not a truncation.
TEST(TlsBridge, TcpEndWithoutCloseNotifyAfterOursIsThePeersEnd) {
    BridgeAndBareClient b;
    auto& [tcp, server_context, client_context, loop, client, bridge, plain] = b;
    ::shutdown(plain.get(), SHUT_WR); // the owner's end: the bridge sends close_notify
    std::string buffer(64, '\0');
    run_until(*loop, [&] {
        const auto r = client->read(buffer);
        if (r.status == tls::IoStatus::failed) ADD_FAILURE() << r.error.message;
        return r.status == tls::IoStatus::closed;
    });
    ASSERT_EQ(client->write(std::string("answer")).status, tls::IoStatus::ok);
    ::shutdown(tcp.peer.get(), SHUT_WR); // FIN, no close_notify of its own
    std::string got;
    run_until(*loop, [&] {
        got += read_available(plain.get());
        return eof_state(plain.get()) == 0 || bridge->done(); // the end reached the owner
    });
    EXPECT_FALSE(bridge->done()) << bridge->result().error().message; // no failure
    bridge->release();
    run_until(*loop, [&] { return bridge->done(); });
    EXPECT_TRUE(bridge->result()) << bridge->result().error().message;
    EXPECT_EQ(got, "answer");
    EXPECT_EQ(eof_state(plain.get()), 0);
}

// Each end is passed on in the step that finds it: with the peer's data already ended, the
// owner's end found on a step's last round still becomes close_notify (before, the bridge then
// watched nothing and the peer waited for ever). One round per step puts it on a last round.
TEST(TlsBridge, TheOwnersEndOnAStepsLastRoundStillReachesThePeer) {
    TcpPair tcp;
    nonblocking(tcp.peer.get());
    const tls::Context server_context = self_signed_server();
    const tls::Context client_context = insecure_client();
    auto loop = EventLoop::create();
    auto server_session = server_context.session(tcp.ours.get(), "client");
    auto client = client_context.session(tcp.peer.get(), "localhost:9");
    ASSERT_TRUE(loop && server_session && client);
    TlsBridge::Settings settings{"127.0.0.1:5000", 5s};
    settings.rounds_per_step = 1;
    auto bridge = std::move(*TlsBridge::create(*loop, std::move(tcp.ours),
                                               std::move(*server_session), settings, nullptr));
    UniqueFd plain = bridge->take_plain_end();
    bridge->start();
    run_until(*loop, [&] { return client->handshake().status == tls::IoStatus::ok; });
    ASSERT_EQ(client->shutdown().status, tls::IoStatus::ok); // its close_notify
    run_until(*loop, [&] { return eof_state(plain.get()) == 0; }); // the peer's end came through
    ASSERT_EQ(::send(plain.get(), "x", 1, 0), 1);
    ::shutdown(plain.get(), SHUT_WR);
    std::string got;
    std::string buffer(64, '\0');
    bool ended = false;
    run_until(*loop, [&] {
        if (ended) return true; // (run_until asks once more after the last round)
        const tls::IoResult r = client->read(buffer);
        if (r.status == tls::IoStatus::ok) got.append(buffer.data(), r.bytes);
        ended = r.status == tls::IoStatus::closed || r.status == tls::IoStatus::failed;
        return ended;
    });
    EXPECT_EQ(got, "x");
    EXPECT_EQ(client->read(buffer).status, tls::IoStatus::closed); // close_notify, not a cut
}

TEST(TlsBridge, ResetBeforeThePeersEndFailsTheConnection) {
    BridgeAndBareClient b;
    auto& [tcp, server_context, client_context, loop, client, bridge, plain] = b;
    ASSERT_EQ(client->write(std::string("part")).status, tls::IoStatus::ok);
    std::string got;
    run_until(*loop, [&] {
        got += read_available(plain.get());
        return got == "part";
    });
    tcp.reset_peer();
    run_until(*loop, [&] { return bridge->done(); });
    ASSERT_FALSE(bridge->result());
    EXPECT_EQ(bridge->result().error().kind, ErrorKind::network);
    EXPECT_EQ(bridge->result().error().sys_errno, ECONNRESET);
    EXPECT_NE(bridge->result().error().message.find(
                  "127.0.0.1:5000: connection reset by peer before the end of its data (4 bytes"),
              std::string::npos)
        << bridge->result().error().message;
    // The owner reads end-of-file (what arrived came first) and cannot write.
    EXPECT_EQ(eof_state(plain.get()), 0);
}

TEST(TlsBridge, TruncationWithoutCloseNotifyIsAFailure) {
    BridgeAndBareClient b;
    auto& [tcp, server_context, client_context, loop, client, bridge, plain] = b;
    ::shutdown(tcp.peer.get(), SHUT_WR); // FIN, no close_notify
    run_until(*loop, [&] { return bridge->done(); });
    ASSERT_FALSE(bridge->result());
    EXPECT_EQ(bridge->result().error().kind, ErrorKind::network);
    EXPECT_NE(bridge->result().error().message.find("without a TLS close_notify"),
              std::string::npos)
        << bridge->result().error().message;
}

TEST(TlsBridge, HandshakeTimesOut) {
    TcpPair tcp; // the peer never speaks
    const tls::Context server_context = self_signed_server();
    auto loop = EventLoop::create();
    auto session = server_context.session(tcp.ours.get(), "client");
    ASSERT_TRUE(loop && session);
    auto bridge = std::move(*TlsBridge::create(*loop, std::move(tcp.ours), std::move(*session),
                                               {"127.0.0.1:5000", 50ms}, nullptr));
    bridge->start();
    ASSERT_TRUE(bridge->deadline());
    run_until(*loop, [&] {
        bridge->on_deadline(std::chrono::steady_clock::now());
        return bridge->done();
    });
    ASSERT_FALSE(bridge->result());
    EXPECT_EQ(bridge->result().error().sys_errno, ETIMEDOUT);
    EXPECT_EQ(bridge->result().error().message, "127.0.0.1:5000: no TLS handshake within 50ms");
}
