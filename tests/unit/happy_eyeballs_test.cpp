#include <arpa/inet.h>
#include <chrono>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nettool/happy_eyeballs.hpp>
#include <nettool/port_scan.hpp>
#include <nettool/stop.hpp>
#include <nettool/unique_fd.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <vector>

using namespace nettool;
using namespace std::chrono_literals;

namespace {

SocketAddress loopback(std::uint16_t port) {
    return SocketAddress::loopback(AF_INET, port);
}

std::uint16_t local_port(int fd) {
    return SocketAddress::local_of(fd).port();
}

// listen() on 127.0.0.1, port 0, with the given backlog.
UniqueFd listener(int backlog = 16) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const SocketAddress a = loopback(0);
    EXPECT_EQ(::bind(fd.get(), a.get(), a.length()), 0);
    EXPECT_EQ(::listen(fd.get(), backlog), 0);
    return fd;
}

// A port bound but not listening: connecting there is refused, and no one else can take it.
UniqueFd closed_port() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const SocketAddress a = loopback(0);
    EXPECT_EQ(::bind(fd.get(), a.get(), a.length()), 0);
    return fd;
}

// A listener whose accept queue is full: further SYNs are dropped, so a connect there stays
// in progress, like a host that does not answer.
struct BlackHole {
    UniqueFd listen_fd = listener(0);
    std::vector<UniqueFd> fillers;
    BlackHole() {
        const SocketAddress a = loopback(local_port(listen_fd.get()));
        for (int i = 0; i < 3; ++i) {
            UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            (void)::connect(c.get(), a.get(), a.length());
            fillers.push_back(std::move(c));
        }
        // Let the handshakes that the queue admits complete.
        ::poll(nullptr, 0, 100);
    }
    SocketAddress address() const { return loopback(local_port(listen_fd.get())); }
};

Race::Settings settings(std::chrono::milliseconds timeout, const std::string& name) {
    Race::Settings s;
    s.timeout = timeout;
    s.deadline = Clock::now() + timeout;
    s.name = name;
    return s;
}

} // namespace

TEST(HappyEyeballs, ConnectsToAListener) {
    init_stop();
    auto l = listener();
    const SocketAddress target = loopback(local_port(l.get()));
    auto r = run_race({target}, settings(5s, target.display()));
    ASSERT_TRUE(r) << r.error().error.message;
    EXPECT_TRUE(r->fd);
    EXPECT_EQ(r->peer.display(), target.display());
}

TEST(HappyEyeballs, RefusedIsATransientNetworkErrorNamingTheAddress) {
    init_stop();
    auto closed = closed_port();
    const SocketAddress target = loopback(local_port(closed.get()));
    auto r = run_race({target}, settings(5s, target.display()));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().error.kind, ErrorKind::network);
    EXPECT_TRUE(r.error().transient);
    EXPECT_EQ(r.error().error.message, "connect to " + target.display() + ": connection refused");
}

TEST(HappyEyeballs, AFailedAttemptStartsTheNextAtOnce) {
    init_stop();
    auto closed = closed_port();
    auto l = listener();
    const auto start = Clock::now();
    auto r = run_race({loopback(local_port(closed.get())), loopback(local_port(l.get()))},
                      settings(5s, "x"));
    ASSERT_TRUE(r) << r.error().error.message;
    EXPECT_EQ(r->peer.port(), local_port(l.get()));
    EXPECT_LT(Clock::now() - start, 200ms); // no 250 ms attempt delay after a refusal
}

TEST(HappyEyeballs, AStalledAttemptIsOvertakenAfterTheAttemptDelay) {
    init_stop();
    BlackHole hole;
    auto l = listener();
    const auto start = Clock::now();
    auto r = run_race({hole.address(), loopback(local_port(l.get()))}, settings(5s, "x"));
    const auto took = Clock::now() - start;
    ASSERT_TRUE(r) << r.error().error.message;
    EXPECT_EQ(r->peer.port(), local_port(l.get()));
    EXPECT_GE(took, 240ms);
    EXPECT_LT(took, 3s);
}

TEST(HappyEyeballs, DeadlineGivesTimedOut) {
    init_stop();
    BlackHole hole;
    auto r = run_race({hole.address()}, settings(300ms, hole.address().display()));
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().transient);
    EXPECT_EQ(r.error().error.message,
              "connect to " + hole.address().display() + ": timed out after 300ms");
}

namespace {
struct Collect final : ScanObserver {
    std::vector<PortState> states;
    void port_done(const PortState& s) override { states.push_back(s); }
};
} // namespace

TEST(PortScan, ReportsOpenAndClosedInPortOrder) {
    init_stop();
    // Find two adjacent ports: a listener at P and a bound, non-listening socket at P+1.
    UniqueFd open_fd, closed_fd;
    for (int i = 0; i < 50 && !closed_fd; ++i) {
        open_fd = listener();
        const auto p = local_port(open_fd.get());
        if (p == 65535) continue;
        UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const SocketAddress a = loopback(static_cast<std::uint16_t>(p + 1));
        if (::bind(c.get(), a.get(), a.length()) == 0) closed_fd = std::move(c);
    }
    ASSERT_TRUE(closed_fd);
    const auto p = local_port(open_fd.get());
    Collect seen;
    ScanOptions options;
    options.host = "127.0.0.1";
    options.ports = PortRange{p, static_cast<std::uint16_t>(p + 1)};
    options.timeout = 2s;
    options.concurrency = 1; // also exercises the queue
    auto summary = scan_ports(options, seen);
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(summary->open, 1u);
    EXPECT_EQ(summary->not_open, 1u);
    ASSERT_EQ(seen.states.size(), 2u);
    EXPECT_EQ(seen.states[0].port, p);
    EXPECT_TRUE(seen.states[0].open);
    EXPECT_EQ(seen.states[0].address, "127.0.0.1");
    EXPECT_FALSE(seen.states[1].open);
    EXPECT_EQ(seen.states[1].error, "connection refused");
}

TEST(PortScan, ManyPortsInParallelKeepTheirOrder) {
    init_stop();
    auto closed = closed_port();
    const auto base = local_port(closed.get());
    if (base > 65535 - 200) GTEST_SKIP() << "port too high for a range";
    Collect seen;
    ScanOptions options;
    options.host = "127.0.0.1";
    options.ports = PortRange{base, static_cast<std::uint16_t>(base + 150)};
    options.timeout = 2s;
    auto summary = scan_ports(options, seen);
    ASSERT_TRUE(summary);
    ASSERT_EQ(seen.states.size(), 151u);
    for (std::size_t i = 0; i < seen.states.size(); ++i)
        EXPECT_EQ(seen.states[i].port, base + i);
    EXPECT_FALSE(seen.states[0].open);
}
