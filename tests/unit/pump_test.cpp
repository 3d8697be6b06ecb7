#include "tcp_pair.hpp"

#include <csignal>
#include <functional>
#include <gtest/gtest.h>
#include <nettool/pump.hpp>
#include <nettool/unique_fd.hpp>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace nettool;

namespace {
struct SocketPair {
    UniqueFd a, b;
    SocketPair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        a.reset(fds[0]);
        b.reset(fds[1]);
    }
};

// Runs the pump with poll() until it finishes; bounded by a deadline.
void drive(Pump& pump, const std::function<void()>& between = {}) {
    for (int i = 0; i < 10000 && !pump.finished(); ++i) {
        struct pollfd fds[2] = {{pump.source_fd(), POLLIN, 0}, {pump.sink_fd(), POLLOUT, 0}};
        fds[0].events = pump.wants_read() ? POLLIN : 0;
        fds[1].events = pump.wants_write() ? POLLOUT : 0;
        ASSERT_GE(::poll(fds, 2, 1000), 0);
        ASSERT_TRUE(pump.step());
        if (between) between();
    }
    ASSERT_TRUE(pump.finished());
}

std::string read_all(int fd) {
    std::string out;
    char buffer[4096];
    for (int i = 0; i < 100000; ++i) {
        struct pollfd p {
            fd, POLLIN, 0
        };
        if (::poll(&p, 1, 2000) <= 0) break;
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
}
} // namespace

TEST(Pump, CopiesEverythingAndHalfClosesTheSink) {
    SocketPair in, out;
    const std::string payload(1 << 20, 'x');
    std::thread writer([&] {
        std::size_t done = 0;
        while (done < payload.size()) {
            struct pollfd p {
                in.b.get(), POLLOUT, 0
            };
            ::poll(&p, 1, 1000);
            const ssize_t n = ::write(in.b.get(), payload.data() + done, payload.size() - done);
            if (n > 0) done += static_cast<std::size_t>(n);
        }
        ::shutdown(in.b.get(), SHUT_WR);
    });
    std::string received;
    std::thread reader([&] { received = read_all(out.b.get()); });
    Pump pump(in.a.get(), out.a.get());
    drive(pump);
    writer.join();
    reader.join(); // ends only because the pump half-closed the sink
    EXPECT_EQ(received.size(), payload.size());
    EXPECT_EQ(pump.bytes_in(), payload.size());
    EXPECT_EQ(pump.bytes_out(), payload.size());
}

TEST(Pump, LimitStopsAfterNBytes) {
    SocketPair in, out;
    ASSERT_EQ(::write(in.b.get(), "0123456789", 10), 10);
    Pump::Options options;
    options.limit = 4;
    Pump pump(in.a.get(), out.a.get(), options);
    drive(pump);
    EXPECT_EQ(read_all(out.b.get()), "0123");
}

TEST(Pump, TransformAndObserve) {
    SocketPair in, out;
    ASSERT_EQ(::write(in.b.get(), "a\nb\n", 4), 4);
    ::shutdown(in.b.get(), SHUT_WR);
    std::string seen;
    Pump::Options options;
    options.observe = [&](std::span<const char> chunk) { seen.append(chunk.data(), chunk.size()); };
    options.transform = [](std::span<const char> chunk, std::string& result) {
        for (char c : chunk) {
            if (c == '\n') result += '\r';
            result += c;
        }
    };
    Pump pump(in.a.get(), out.a.get(), options);
    drive(pump);
    EXPECT_EQ(seen, "a\nb\n");
    EXPECT_EQ(read_all(out.b.get()), "a\r\nb\r\n");
}

TEST(Pump, WriteErrorIsReportedNotFatal) {
    SocketPair in, out;
    ASSERT_EQ(::write(in.b.get(), "data", 4), 4);
    out.b.reset(); // the reader is gone: write gets EPIPE (SIGPIPE is ignored below)
    std::signal(SIGPIPE, SIG_IGN);
    Pump pump(in.a.get(), out.a.get());
    auto status = pump.step();
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind, ErrorKind::network);
    EXPECT_TRUE(pump.finished());
}

TEST(Pump, ResetReadIsAFailureWithItsErrnoNotAnEndOfStream) {
    nettool::testing::TcpPair tcp;
    SocketPair out;
    ASSERT_EQ(::send(tcp.peer.get(), "abc", 3, 0), 3);
    Pump pump(tcp.ours.get(), out.a.get());
    Status status;
    for (int i = 0; i < 1000 && status && pump.bytes_out() < 3; ++i) {
        pollfd p{tcp.ours.get(), POLLIN, 0};
        ASSERT_GE(::poll(&p, 1, 1000), 0);
        status = pump.step();
    }
    ASSERT_TRUE(status);
    tcp.reset_peer();
    for (int i = 0; i < 1000 && status; ++i) {
        pollfd p{tcp.ours.get(), POLLIN, 0};
        ASSERT_GE(::poll(&p, 1, 1000), 0);
        status = pump.step();
    }
    ASSERT_FALSE(status);
    EXPECT_EQ(pump.failed_side(), Pump::Side::source);
    EXPECT_EQ(pump.failed_errno(), ECONNRESET);
    EXPECT_EQ(status.error().sys_errno, ECONNRESET);
    EXPECT_EQ(status.error().kind, ErrorKind::network);
    EXPECT_FALSE(pump.source_ended());
    char buffer[8];
    const ssize_t n = ::read(out.b.get(), buffer, sizeof buffer);
    ASSERT_EQ(n, 3);
    EXPECT_EQ(std::string(buffer, 3), "abc"); // what came before the reset was delivered
}

TEST(Pump, AnIdlePumpHoldsNoBuffer) {
    SocketPair in, out;
    Pump pump(in.a.get(), out.a.get());
    EXPECT_FALSE(pump.holds_buffer());
    ASSERT_EQ(::write(in.b.get(), "hello", 5), 5);
    ASSERT_TRUE(pump.step());
    EXPECT_EQ(pump.bytes_out(), 5u);
    EXPECT_FALSE(pump.holds_buffer()); // moved at once, nothing more to read: nothing kept
    char buffer[8];
    EXPECT_EQ(::read(out.b.get(), buffer, sizeof buffer), 5);
}

TEST(Pump, KeepsABufferOnlyWhileTheSinkIsFullAndPumpsDoNotShareBytes) {
    SocketPair in_a, out_a, in_b, out_b;
    const int small = 4096;
    ::setsockopt(out_a.a.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    Pump::Options options;
    options.buffer_size = 64 * 1024;
    Pump a(in_a.a.get(), out_a.a.get(), options);
    Pump b(in_b.a.get(), out_b.a.get(), options);
    const std::string one(200 * 1024, 'A');
    std::thread feed([&] {
        std::size_t done = 0;
        while (done < one.size()) {
            const ssize_t n = ::write(in_a.b.get(), one.data() + done, one.size() - done);
            if (n > 0) done += static_cast<std::size_t>(n);
            if (n < 0) {
                pollfd p{in_a.b.get(), POLLOUT, 0};
                ::poll(&p, 1, 1000);
            }
        }
        ::shutdown(in_a.b.get(), SHUT_WR);
    });
    // a's sink fills up: what it read and could not write stays with a...
    for (int i = 0; i < 1000 && !a.wants_write(); ++i) {
        pollfd p{in_a.a.get(), POLLIN, 0};
        ::poll(&p, 1, 100);
        ASSERT_TRUE(a.step());
    }
    ASSERT_TRUE(a.wants_write());
    EXPECT_TRUE(a.holds_buffer());
    // ...while b reads through the same thread's buffer.
    const std::string two(50 * 1024, 'B');
    ASSERT_EQ(::write(in_b.b.get(), two.data(), two.size()), static_cast<ssize_t>(two.size()));
    ::shutdown(in_b.b.get(), SHUT_WR);
    drive(b);
    EXPECT_EQ(read_all(out_b.b.get()), two);
    std::string received;
    std::thread reader([&] { received = read_all(out_a.b.get()); });
    drive(a);
    feed.join();
    reader.join();
    EXPECT_EQ(received, one); // a's pending bytes were its own, not b's
    EXPECT_FALSE(a.holds_buffer());
}
