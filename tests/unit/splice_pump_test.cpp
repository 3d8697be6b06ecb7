// SplicePump: every pair of ends splice(2) can join, straight (one end a pipe) or through a
// private pipe, byte-exact, or dropped in the kernel into /dev/null; the reset read, the sink's
// reader leaving, which side it waits on.
#include "tcp_pair.hpp"

#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <functional>
#include <gtest/gtest.h>
#include <nettool/splice_pump.hpp>
#include <nettool/unique_fd.hpp>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace nettool;

namespace {

struct Pipe {
    UniqueFd read_end, write_end;
    explicit Pipe(int flags = O_NONBLOCK) {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, flags | O_CLOEXEC), 0);
        read_end.reset(fds[0]);
        write_end.reset(fds[1]);
    }
};

struct SocketPair {
    UniqueFd ours, theirs; // ours non-blocking (the pump's), theirs blocking (the test's)
    SocketPair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        ours.reset(fds[0]);
        theirs.reset(fds[1]);
        ::fcntl(ours.get(), F_SETFL, O_NONBLOCK);
    }
};

struct TempFile {
    std::string name = "/tmp/nettool-splice-XXXXXX";
    UniqueFd fd;
    TempFile() {
        fd.reset(::mkstemp(name.data()));
        ::unlink(name.c_str());
    }
};

std::string pattern(std::size_t size) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        s[i] = static_cast<char>(i * 7 + i / 4093);
    return s;
}

Pump::Options named(Pump::Options::AtEnd at_end = Pump::Options::AtEnd::nothing) {
    Pump::Options o;
    o.source_name = "the source";
    o.sink_name = "the sink";
    o.at_end = at_end;
    return o;
}

void drive(SplicePump& pump) {
    for (int i = 0; i < 100000 && !pump.finished(); ++i) {
        pollfd fds[2] = {{pump.source_fd(), static_cast<short>(pump.wants_read() ? POLLIN : 0), 0},
                         {pump.sink_fd(), static_cast<short>(pump.wants_write() ? POLLOUT : 0), 0}};
        ASSERT_GE(::poll(fds, 2, 1000), 0);
        ASSERT_TRUE(pump.step());
    }
    ASSERT_TRUE(pump.finished());
}

// Writes all of `data` to a blocking descriptor, then `then` (close or shut down).
std::thread feeder(int fd, const std::string& data, std::function<void()> then) {
    return std::thread([fd, &data, then = std::move(then)] {
        std::size_t done = 0;
        while (done < data.size()) {
            const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
            if (n <= 0) return;
            done += static_cast<std::size_t>(n);
        }
        then();
    });
}

// Reads a blocking descriptor to end-of-file.
std::thread collector(int fd, std::string& into) {
    return std::thread([fd, &into] {
        char buffer[65536];
        while (true) {
            const ssize_t n = ::read(fd, buffer, sizeof buffer);
            if (n <= 0) return;
            into.append(buffer, static_cast<std::size_t>(n));
        }
    });
}

} // namespace

TEST(SplicePump, SuitableEnds) {
    Pipe p;
    EXPECT_TRUE(SplicePump::suitable_source(p.read_end.get()));
    EXPECT_TRUE(SplicePump::suitable_sink(p.write_end.get()));
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    EXPECT_TRUE(SplicePump::suitable_sink(null.get()));
    EXPECT_FALSE(SplicePump::suitable_source(null.get()));
    TempFile file;
    EXPECT_TRUE(SplicePump::suitable_sink(file.fd.get()));
    EXPECT_TRUE(SplicePump::suitable_source(file.fd.get()));
    UniqueFd append(::open(("/proc/self/fd/" + std::to_string(file.fd.get())).c_str(),
                           O_WRONLY | O_APPEND | O_CLOEXEC));
    EXPECT_FALSE(SplicePump::suitable_sink(append.get())); // splice refuses O_APPEND
    SocketPair stream;
    EXPECT_TRUE(SplicePump::suitable_source(stream.ours.get()));
    EXPECT_TRUE(SplicePump::suitable_sink(stream.ours.get()));
    UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    EXPECT_FALSE(SplicePump::suitable_source(udp.get())); // datagrams keep their bounds
    EXPECT_FALSE(SplicePump::suitable_sink(udp.get()));
}

TEST(SplicePump, SocketIntoAFileGoesThroughAPrivatePipe) {
    SocketPair s;
    TempFile file;
    auto pump = SplicePump::create(s.ours.get(), file.fd.get(), named());
    ASSERT_TRUE(pump);
    EXPECT_FALSE(pump->direct());
    const std::string payload = pattern(3 << 20);
    auto feed = feeder(s.theirs.get(), payload, [&] { ::shutdown(s.theirs.get(), SHUT_WR); });
    drive(*pump);
    feed.join();
    EXPECT_EQ(pump->bytes_in(), payload.size());
    EXPECT_EQ(pump->bytes_out(), payload.size());
    std::string back(payload.size(), '\0');
    ASSERT_EQ(::pread(file.fd.get(), back.data(), back.size(), 0),
              static_cast<ssize_t>(back.size()));
    EXPECT_EQ(back, payload);
}

// Whatever round of a step meets the source's end, the step leaves the pump finished or
// waiting for one of its sides: a pump that wants neither is never woken again (a relay hung
// after the peer's FIN when the end came on a step's last round). One round per step puts the
// end on a last round every time.
TEST(SplicePump, TheEndOnAStepsLastRoundStillFinishesIt) {
    SocketPair s;
    TempFile file;
    Pump::Options options = named();
    options.rounds_per_step = 1;
    auto pump = SplicePump::create(s.ours.get(), file.fd.get(), options);
    ASSERT_TRUE(pump);
    ASSERT_FALSE(pump->direct());
    ASSERT_EQ(::write(s.theirs.get(), "abc", 3), 3);
    ::shutdown(s.theirs.get(), SHUT_WR);
    for (int i = 0; i < 10 && !pump->finished(); ++i) {
        ASSERT_TRUE(pump->step());
        ASSERT_TRUE(pump->finished() || pump->wants_read() || pump->wants_write())
            << "after step " << i << " the pump waits for nothing";
    }
    EXPECT_TRUE(pump->finished());
    EXPECT_EQ(pump->bytes_out(), 3u);
}

TEST(SplicePump, SocketIntoAPipeIsStraightAndExact) {
    SocketPair s;
    Pipe out(0);
    ::fcntl(out.write_end.get(), F_SETFL, O_NONBLOCK);
    auto pump = SplicePump::create(s.ours.get(), out.write_end.get(), named());
    ASSERT_TRUE(pump);
    EXPECT_TRUE(pump->direct());
    const std::string payload = pattern(5 << 20);
    std::string received;
    auto feed = feeder(s.theirs.get(), payload, [&] { ::shutdown(s.theirs.get(), SHUT_WR); });
    auto collect = collector(out.read_end.get(), received);
    drive(*pump);
    feed.join();
    out.write_end.reset();
    collect.join();
    EXPECT_EQ(received, payload);
    EXPECT_EQ(pump->bytes_out(), payload.size());
}

TEST(SplicePump, PipeIntoASocketGoesThroughAPrivatePipeAndHalfClosesItAtTheEnd) {
    SocketPair s;
    Pipe in(0);
    ::fcntl(in.read_end.get(), F_SETFL, O_NONBLOCK);
    auto pump = SplicePump::create(in.read_end.get(), s.ours.get(),
                                   named(Pump::Options::AtEnd::half_close_socket));
    ASSERT_TRUE(pump);
    EXPECT_FALSE(pump->direct()); // the source pipe's lock is not held while the socket sends
    const std::string payload = pattern(5 << 20);
    std::string received;
    auto feed = feeder(in.write_end.get(), payload, [&] { in.write_end.reset(); });
    auto collect = collector(s.theirs.get(), received); // ends at our FIN
    drive(*pump);
    feed.join();
    collect.join();
    EXPECT_EQ(received, payload);
    EXPECT_TRUE(pump->source_ended());
}

TEST(SplicePump, AFullSourcePipeIsGrownAndAnIdleOneIsNot) {
    SocketPair s;
    Pipe in(0), quiet;
    ::fcntl(in.read_end.get(), F_SETFL, O_NONBLOCK);
    auto busy = SplicePump::create(in.read_end.get(), s.ours.get(), named());
    auto idle = SplicePump::create(quiet.read_end.get(), s.ours.get(), named());
    ASSERT_TRUE(busy && idle);
    const std::string fill(static_cast<std::size_t>(::fcntl(in.write_end.get(), F_GETPIPE_SZ)),
                           'x');
    ASSERT_EQ(::write(in.write_end.get(), fill.data(), fill.size()),
              static_cast<ssize_t>(fill.size()));
    ASSERT_EQ(::write(quiet.write_end.get(), "a little", 8), 8);
    std::string received;
    auto collect = collector(s.theirs.get(), received);
    ASSERT_TRUE(busy->step());
    ASSERT_TRUE(idle->step());
    EXPECT_EQ(::fcntl(in.read_end.get(), F_GETPIPE_SZ), 1 << 20); // its writer is ahead
    EXPECT_EQ(::fcntl(quiet.read_end.get(), F_GETPIPE_SZ), 64 << 10);
    ::shutdown(s.ours.get(), SHUT_WR);
    collect.join();
    EXPECT_EQ(received.size(), fill.size() + 8);
}

TEST(SplicePump, FileIntoASocketFromItsCurrentOffset) {
    TempFile file;
    const std::string payload = pattern(2 << 20);
    ASSERT_EQ(::write(file.fd.get(), payload.data(), payload.size()),
              static_cast<ssize_t>(payload.size()));
    ::lseek(file.fd.get(), 100, SEEK_SET); // as a shell leaves stdin after a reader before us
    SocketPair s;
    auto pump = SplicePump::create(file.fd.get(), s.ours.get(),
                                   named(Pump::Options::AtEnd::half_close_socket));
    ASSERT_TRUE(pump);
    EXPECT_FALSE(pump->direct());
    std::string received;
    auto collect = collector(s.theirs.get(), received);
    drive(*pump);
    collect.join();
    EXPECT_EQ(received, payload.substr(100));
    EXPECT_EQ(::lseek(file.fd.get(), 0, SEEK_CUR), static_cast<off_t>(payload.size()));
}

TEST(SplicePump, SocketToSocketBothWaysThroughAPipePair) {
    // A forwarder: two connections joined by two pumps, each with its private pipe.
    SocketPair a, b;
    auto ab = SplicePump::create(a.ours.get(), b.ours.get(),
                                 named(Pump::Options::AtEnd::half_close_socket));
    auto ba = SplicePump::create(b.ours.get(), a.ours.get(),
                                 named(Pump::Options::AtEnd::half_close_socket));
    ASSERT_TRUE(ab && ba);
    EXPECT_FALSE(ab->direct());
    const std::string one = pattern(4 << 20);
    const std::string two = pattern(3 << 20).substr(1);
    std::string got_b, got_a;
    auto feed_a = feeder(a.theirs.get(), one, [&] { ::shutdown(a.theirs.get(), SHUT_WR); });
    auto feed_b = feeder(b.theirs.get(), two, [&] { ::shutdown(b.theirs.get(), SHUT_WR); });
    auto collect_b = collector(b.theirs.get(), got_b);
    auto collect_a = collector(a.theirs.get(), got_a);
    for (int i = 0; i < 100000 && !(ab->finished() && ba->finished()); ++i) {
        pollfd fds[2] = {{a.ours.get(), 0, 0}, {b.ours.get(), 0, 0}};
        if (ab->wants_read()) fds[0].events |= POLLIN;
        if (ba->wants_write()) fds[0].events |= POLLOUT;
        if (ba->wants_read()) fds[1].events |= POLLIN;
        if (ab->wants_write()) fds[1].events |= POLLOUT;
        ASSERT_GE(::poll(fds, 2, 1000), 0);
        ASSERT_TRUE(ab->step());
        ASSERT_TRUE(ba->step());
    }
    for (auto* t : {&feed_a, &feed_b, &collect_a, &collect_b})
        t->join();
    EXPECT_EQ(got_b, one);
    EXPECT_EQ(got_a, two);
}

TEST(SplicePump, WaitsForTheSinkWhenItIsFullAndForTheSourceWhenItIsEmpty) {
    SocketPair s;
    Pipe out;
    auto pump = SplicePump::create(s.ours.get(), out.write_end.get(), named());
    ASSERT_TRUE(pump);
    // More than the pipe holds, grown or not: a grown pipe is 256 slots, and a socket's
    // pages can be 32 KiB compound pages, so it may hold 8 MiB of them.
    const std::string payload = pattern(12 << 20);
    auto feed = feeder(s.theirs.get(), payload, [] {});
    std::string received;
    for (int i = 0; i < 1000 && !pump->wants_write(); ++i) {
        pollfd p{s.ours.get(), POLLIN, 0};
        ::poll(&p, 1, 100);
        ASSERT_TRUE(pump->step());
    }
    EXPECT_TRUE(pump->wants_write()); // the pipe is full: wait for room, not for the socket
    EXPECT_FALSE(pump->wants_read());
    // It filled at the default size first, and was grown for the rest of the transfer.
    EXPECT_EQ(::fcntl(out.write_end.get(), F_GETPIPE_SZ), 1 << 20);
    char buffer[65536];
    for (int i = 0; i < 100000 && received.size() < payload.size(); ++i) {
        const ssize_t n = ::read(out.read_end.get(), buffer, sizeof buffer);
        if (n > 0) received.append(buffer, static_cast<std::size_t>(n));
        pollfd p{s.ours.get(), POLLIN, 0};
        ::poll(&p, 1, n > 0 ? 0 : 10);
        ASSERT_TRUE(pump->step());
    }
    feed.join();
    EXPECT_EQ(received, payload);
    EXPECT_TRUE(pump->wants_read()); // all moved: wait for the socket again
    EXPECT_FALSE(pump->wants_write());
}

TEST(SplicePump, ResetReadIsAFailureWithItsErrnoStraightThroughAPipeAndDiscarding) {
    enum class Way { straight, through_pipe, discard };
    for (const Way way : {Way::straight, Way::through_pipe, Way::discard}) {
        nettool::testing::TcpPair tcp;
        Pipe out;
        TempFile file;
        UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
        const int sink = way == Way::straight       ? out.write_end.get()
                         : way == Way::through_pipe ? file.fd.get()
                                                    : null.get();
        const bool straight = way == Way::straight;
        ASSERT_EQ(::send(tcp.peer.get(), "abc", 3, 0), 3);
        auto pump = SplicePump::create(tcp.ours.get(), sink, named());
        ASSERT_TRUE(pump);
        EXPECT_EQ(pump->direct(), straight);
        EXPECT_EQ(pump->discards(), way == Way::discard);
        Status status;
        for (int i = 0; i < 1000 && status && pump->bytes_out() < 3; ++i) {
            pollfd p{tcp.ours.get(), POLLIN, 0};
            ASSERT_GE(::poll(&p, 1, 1000), 0);
            status = pump->step();
        }
        ASSERT_TRUE(status);
        tcp.reset_peer();
        for (int i = 0; i < 1000 && status; ++i) {
            pollfd p{tcp.ours.get(), POLLIN, 0};
            ASSERT_GE(::poll(&p, 1, 1000), 0);
            status = pump->step();
        }
        ASSERT_FALSE(status);
        EXPECT_EQ(pump->failed_side(), Pump::Side::source);
        EXPECT_EQ(pump->failed_errno(), ECONNRESET);
        EXPECT_EQ(status.error().sys_errno, ECONNRESET);
        EXPECT_FALSE(pump->source_ended());
        if (straight) {
            char buffer[8];
            EXPECT_EQ(::read(out.read_end.get(), buffer, sizeof buffer), 3);
        }
    }
}

// A TCP socket into /dev/null: the bytes are dropped by recv(MSG_TRUNC), counted, and the
// peer's FIN ends the pump. A Unix socket cannot drop in the kernel: it keeps the pipe.
TEST(SplicePump, TcpIntoDevNullIsDiscardedInTheKernelAndCounted) {
    nettool::testing::TcpPair tcp;
    UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    auto pump = SplicePump::create(tcp.ours.get(), null.get(), named());
    ASSERT_TRUE(pump);
    ASSERT_TRUE(pump->discards());
    EXPECT_TRUE(pump->wants_read());
    EXPECT_FALSE(pump->wants_write());
    const std::string payload = pattern(5 << 20);
    auto feed = feeder(tcp.peer.get(), payload, [&] { ::shutdown(tcp.peer.get(), SHUT_WR); });
    drive(*pump);
    feed.join();
    EXPECT_TRUE(pump->source_ended());
    EXPECT_EQ(pump->bytes_in(), payload.size());
    EXPECT_EQ(pump->bytes_out(), payload.size());

    SocketPair unix_stream;
    auto kept = SplicePump::create(unix_stream.ours.get(), null.get(), named());
    ASSERT_TRUE(kept);
    EXPECT_FALSE(kept->discards());
    EXPECT_FALSE(kept->direct());
}

// A lazy discard is woken for a batch of bytes, the end or a failure; otherwise at every
// arrival. A few bytes are not lost either way: the end finds them.
TEST(SplicePump, ALazyDiscardWakesForTheEndOrAResetNotForAFewBytes) {
    for (const bool reset : {false, true}) {
        for (const bool lazy : {false, true}) {
            SCOPED_TRACE(fmt::format("lazy {}, reset {}", lazy, reset));
            nettool::testing::TcpPair tcp;
            UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
            Pump::Options options = named();
            options.lazy_discard = lazy;
            auto pump = SplicePump::create(tcp.ours.get(), null.get(), std::move(options));
            ASSERT_TRUE(pump && pump->discards());
            ASSERT_EQ(::send(tcp.peer.get(), "a little", 8, 0), 8);
            int queued = 0; // arrival on loopback is quick, but wait for it, boundedly
            for (int i = 0; i < 1000 && queued < 8; ++i) {
                ASSERT_EQ(::ioctl(tcp.ours.get(), FIONREAD, &queued), 0);
                if (queued < 8) ::usleep(1000);
            }
            ASSERT_EQ(queued, 8);
            pollfd p{tcp.ours.get(), POLLIN, 0};
            ASSERT_GE(::poll(&p, 1, 0), 0);
            EXPECT_EQ((p.revents & POLLIN) != 0, !lazy);
            if (reset) {
                tcp.reset_peer();
            } else {
                ::shutdown(tcp.peer.get(), SHUT_WR);
            }
            ASSERT_EQ(::poll(&p, 1, 5000), 1); // the end wakes it, lazy or not
            Status status;
            for (int i = 0; i < 100 && status && !pump->finished(); ++i)
                status = pump->step();
            EXPECT_TRUE(pump->finished());
            if (reset) {
                ASSERT_FALSE(status);
                EXPECT_EQ(pump->failed_errno(), ECONNRESET);
            } else {
                ASSERT_TRUE(status);
                EXPECT_TRUE(pump->source_ended());
                EXPECT_EQ(pump->bytes_in(), 8u);
            }
        }
    }
}

TEST(SplicePump, SinkReaderLeavingIsEpipeOnTheSinkSide) {
    std::signal(SIGPIPE, SIG_IGN);
    SocketPair s;
    Pipe out;
    out.read_end.reset();
    ASSERT_EQ(::write(s.theirs.get(), "data", 4), 4);
    auto pump = SplicePump::create(s.ours.get(), out.write_end.get(), named());
    ASSERT_TRUE(pump);
    auto status = pump->step();
    ASSERT_FALSE(status);
    EXPECT_EQ(pump->failed_side(), Pump::Side::sink);
    EXPECT_EQ(pump->failed_errno(), EPIPE);
    EXPECT_TRUE(pump->finished());
}
