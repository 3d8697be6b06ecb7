// serve --model thread|fork (core/src/serve_model.hpp): one connection served alone on its own
// loop, the thread and fork sessions as the server's loop sees them, the record a forked
// child sends back, and the default caps. Real TCP pairs on loopback.
#include "serve_model.hpp"
#include "tcp_pair.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <mutex>
#include <poll.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace nettool;
using namespace nettool::serve_detail;
using namespace std::chrono_literals;
using nettool::testing::TcpPair;

namespace {

class RecordingObserver final : public ServeObserver {
  public:
    void listening(Transport, const SocketAddress&) override {}
    void connection(const ConnectionInfo&) override { count("connection"); }
    void closed(const ConnectionInfo&) override { count("close"); }
    void denied(const ConnectionInfo&) override { count("denied"); }
    void error(const Error& e) override { count("error: " + e.message); }
    void note(std::string_view) override {}
    std::vector<std::string> events() {
        std::lock_guard lock(m_mutex);
        return m_events;
    }

  private:
    void count(std::string what) {
        std::lock_guard lock(m_mutex);
        m_events.push_back(std::move(what));
    }
    std::mutex m_mutex;
    std::vector<std::string> m_events;
};

// Reads until the far side's end (or 5 s, a failure).
std::string read_to_end(int fd) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buffer[4096];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) return out;
        out.append(buffer, static_cast<std::size_t>(n));
    }
    ADD_FAILURE() << "no end of data within 5 s";
    return out;
}

ConnectionInfo info_of(const TcpPair& pair) {
    ConnectionInfo info;
    info.peer = SocketAddress::peer_of(pair.ours.get());
    return info;
}

struct Server {
    ServeOptions options;
    RecordingObserver observer;
    SharedState shared{std::nullopt};
    ServeContext context{options, observer, shared};
    explicit Server(ServeMode mode) { options.mode = mode; }
};

// Runs the server's loop until the session is done (bounded).
void run_until_done(EventLoop& loop, Session& session) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!session.done() && std::chrono::steady_clock::now() < until) {
        ASSERT_TRUE(loop.run_once(50ms));
        const auto now = Clock::now();
        if (const auto when = session.deadline(); when && *when <= now) session.on_deadline(now);
    }
    ASSERT_TRUE(session.done());
}

using MakeSession = std::unique_ptr<Session> (*)(ServeContext&, EventLoop&, UniqueFd,
                                                 ConnectionInfo, std::function<void()>);

} // namespace

TEST(ServeModelRecord, EverythingTheServerReportsRoundTrips) {
    Finished f;
    f.announced = true;
    f.info.transport = Transport::tcp;
    f.info.peer = *SocketAddress::numeric("192.0.2.1", 4000);
    f.info.target = *SocketAddress::numeric("::1", 80);
    f.info.bytes_in = 123456789012ULL;
    f.info.bytes_out = 42;
    f.info.seconds = 1.5;
    f.outcome = fail_errno(ErrorKind::network, ECONNRESET, "connection reset by peer");
    const auto back = decode_finished(encode_finished(f));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->announced);
    EXPECT_EQ(back->info.peer, f.info.peer);
    EXPECT_EQ(back->info.target, f.info.target);
    EXPECT_EQ(back->info.bytes_in, f.info.bytes_in);
    EXPECT_EQ(back->info.bytes_out, 42u);
    EXPECT_EQ(back->info.seconds, 1.5);
    ASSERT_FALSE(back->outcome);
    EXPECT_EQ(back->outcome.error().kind, ErrorKind::network);
    EXPECT_EQ(back->outcome.error().sys_errno, ECONNRESET);
    EXPECT_EQ(back->outcome.error().message, "connection reset by peer");
}

TEST(ServeModelRecord, AUnixPeerAndASuccessRoundTrip) {
    Finished f;
    f.info.transport = Transport::unix_stream;
    f.info.where = "/run/app.sock";
    f.info.peer_pid = 4242;
    const auto back = decode_finished(encode_finished(f));
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->announced);
    EXPECT_TRUE(back->outcome);
    EXPECT_EQ(back->info.transport, Transport::unix_stream);
    EXPECT_EQ(back->info.where, "/run/app.sock");
    EXPECT_EQ(back->info.peer_pid, 4242);
    EXPECT_TRUE(back->info.peer.empty());
}

TEST(ServeModelRecord, TruncatedLongerOrForeignRecordsAreRefused) {
    Finished f;
    f.info.peer = *SocketAddress::numeric("127.0.0.1", 1);
    f.outcome = fail(ErrorKind::protocol, "bad header");
    const std::string record = encode_finished(f);
    for (std::size_t n = 0; n < record.size(); ++n)
        EXPECT_FALSE(decode_finished(std::string_view(record).substr(0, n))) << n;
    EXPECT_FALSE(decode_finished(record + "x"));
    std::string foreign = record;
    foreign[0] ^= 1;
    EXPECT_FALSE(decode_finished(foreign));
}

TEST(ServeModelRecord, AnOverlongMessageIsCutToFitThePipe) {
    Finished f;
    f.outcome = fail(ErrorKind::network, std::string(100000, 'x'));
    const std::string record = encode_finished(f);
    EXPECT_LE(record.size(), 4096u); // one page: the smallest pipe
    const auto back = decode_finished(record);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->outcome.error().message.size(), 3072u);
}

TEST(ServeModelCap, ThreadAndForkAreCappedWithoutMaxConns) {
    ServeOptions o;
    EXPECT_EQ(connection_cap(o), std::nullopt);
    o.model = ServeModel::thread;
    EXPECT_EQ(connection_cap(o), k_default_thread_cap);
    o.model = ServeModel::fork;
    EXPECT_EQ(connection_cap(o), k_default_fork_cap);
    o.max_conns = 3;
    EXPECT_EQ(connection_cap(o), 3u);
}

TEST(ServeAlone, AGreetingIsSentAndCounted) {
    Server server(ServeMode::greet);
    TcpPair pair;
    const auto info = info_of(pair);
    Finished f = serve_alone(server.context, std::move(pair.ours), info, -1);
    EXPECT_EQ(read_to_end(pair.peer.get()), server.options.greeting);
    EXPECT_TRUE(f.outcome);
    EXPECT_TRUE(f.announced);
    EXPECT_EQ(f.info.bytes_out, server.options.greeting.size());
    EXPECT_EQ(f.info.peer, info.peer);
}

TEST(ServeAlone, TheAbortDescriptorEndsAHeldConnection) {
    Server server(ServeMode::echo);
    TcpPair pair;
    UniqueFd abort_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    Finished f;
    std::thread serving([&, info = info_of(pair), socket = std::move(pair.ours)]() mutable {
        f = serve_alone(server.context, std::move(socket), info, abort_fd.get());
    });
    ASSERT_EQ(::send(pair.peer.get(), "ping", 4, 0), 4);
    char buffer[4];
    ASSERT_EQ(::recv(pair.peer.get(), buffer, 4, MSG_WAITALL), 4);
    const std::uint64_t one = 1;
    ASSERT_EQ(::write(abort_fd.get(), &one, sizeof one), 8);
    serving.join();
    EXPECT_EQ(read_to_end(pair.peer.get()), "");
    EXPECT_EQ(f.info.bytes_in, 4u);
    EXPECT_EQ(f.info.bytes_out, 4u);
}

TEST(ServeAlone, AnIdleTimeoutRunsOnTheConnectionsOwnLoop) {
    Server server(ServeMode::echo);
    server.options.idle_timeout = 100ms;
    TcpPair pair;
    const auto started = std::chrono::steady_clock::now();
    Finished f = serve_alone(server.context, std::move(pair.ours), info_of(pair), -1);
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, 90ms);
    EXPECT_LT(took, 5s);
    EXPECT_EQ(read_to_end(pair.peer.get()), "");
}

class ServeModelSession : public ::testing::TestWithParam<MakeSession> {};

TEST_P(ServeModelSession, AnEchoIsServedAndReportedOnTheServersLoop) {
    Server server(ServeMode::echo);
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    TcpPair pair;
    int changes = 0;
    auto session =
        GetParam()(server.context, *loop, std::move(pair.ours), info_of(pair), [&] { ++changes; });
    ASSERT_TRUE(session->start());
    ASSERT_EQ(::send(pair.peer.get(), "hello", 5, 0), 5);
    ASSERT_EQ(::shutdown(pair.peer.get(), SHUT_WR), 0);
    EXPECT_EQ(read_to_end(pair.peer.get()), "hello");
    run_until_done(*loop, *session);
    EXPECT_EQ(changes, 1);
    EXPECT_TRUE(session->outcome());
    EXPECT_TRUE(session->announced());
    EXPECT_EQ(session->info().bytes_in, 5u);
    EXPECT_EQ(session->info().bytes_out, 5u);
}

TEST_P(ServeModelSession, AbortEndsAHeldConnectionSoon) {
    Server server(ServeMode::echo);
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    TcpPair pair;
    auto session = GetParam()(server.context, *loop, std::move(pair.ours), info_of(pair), [] {});
    ASSERT_TRUE(session->start());
    ASSERT_EQ(::send(pair.peer.get(), "x", 1, 0), 1);
    char c = 0;
    ASSERT_EQ(::recv(pair.peer.get(), &c, 1, 0), 1);
    session->abort();
    run_until_done(*loop, *session);
    EXPECT_EQ(read_to_end(pair.peer.get()), "");
    EXPECT_TRUE(session->outcome()); // ended as asked: not a failure
}

TEST_P(ServeModelSession, AFailedForwardComesBackAsTheOutcome) {
    Server server(ServeMode::forward);
    std::vector<ForwardTarget> targets;
    {
        UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in any{};
        any.sin_family = AF_INET;
        any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof any;
        ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&any), length), 0);
        ASSERT_EQ(::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&any), &length), 0);
        targets.push_back(ForwardTarget{
            "closed", {SocketAddress(reinterpret_cast<sockaddr*>(&any), length)}, {}});
    } // bound, never listening, now closed: connecting is refused
    server.context.targets = &targets;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    TcpPair pair;
    auto session = GetParam()(server.context, *loop, std::move(pair.ours), info_of(pair), [] {});
    ASSERT_TRUE(session->start());
    run_until_done(*loop, *session);
    ASSERT_FALSE(session->outcome());
    EXPECT_EQ(session->outcome().error().kind, ErrorKind::network);
    EXPECT_NE(session->outcome().error().message.find("no target took the connection"),
              std::string::npos)
        << session->outcome().error().message;
}

INSTANTIATE_TEST_SUITE_P(ThreadAndFork, ServeModelSession,
                         ::testing::Values(&make_thread_session, &make_fork_session),
                         [](const auto& param_info) {
                             return param_info.param == &make_thread_session ? std::string("Thread")
                                                                             : std::string("Fork");
                         });
