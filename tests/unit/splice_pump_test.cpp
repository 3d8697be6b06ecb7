#include "tcp_pair.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nettool/splice_pump.hpp>
#include <nettool/unique_fd.hpp>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace nettool;

namespace {
void drive(SplicePump& pump) {
    for (int i = 0; i < 100000 && !pump.finished(); ++i) {
        pollfd fds[2] = {{pump.source_fd(), static_cast<short>(pump.wants_read() ? POLLIN : 0), 0},
                         {pump.sink_fd(), static_cast<short>(pump.wants_write() ? POLLOUT : 0), 0}};
        ASSERT_GE(::poll(fds, 2, 1000), 0);
        ASSERT_TRUE(pump.step());
    }
    ASSERT_TRUE(pump.finished());
}
} // namespace

TEST(SplicePump, SuitableSinks) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    EXPECT_TRUE(SplicePump::suitable_sink(p[1]));
    UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    EXPECT_TRUE(SplicePump::suitable_sink(null.get()));
    char name[] = "/tmp/nettool-splice-XXXXXX";
    UniqueFd file(::mkstemp(name));
    EXPECT_TRUE(SplicePump::suitable_sink(file.get()));
    UniqueFd append(::open(name, O_WRONLY | O_APPEND | O_CLOEXEC));
    EXPECT_FALSE(SplicePump::suitable_sink(append.get())); // splice refuses O_APPEND
    int s[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    EXPECT_FALSE(SplicePump::suitable_sink(s[0]));
    ::unlink(name);
    for (int fd : {p[0], p[1], s[0], s[1]})
        ::close(fd);
}

TEST(SplicePump, MovesEverythingFromASocketIntoAFile) {
    int s[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s), 0);
    UniqueFd reader(s[0]);
    UniqueFd writer(s[1]);
    char name[] = "/tmp/nettool-splice-XXXXXX";
    UniqueFd file(::mkstemp(name));
    ::unlink(name);
    auto pump = SplicePump::create(reader.get(), file.get(), "socket", "file");
    ASSERT_TRUE(pump);
    std::string payload(3 << 20, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i)
        payload[i] = static_cast<char>(i * 7 + i / 4096);
    std::thread feed([&] {
        std::size_t done = 0;
        while (done < payload.size()) {
            pollfd p{writer.get(), POLLOUT, 0};
            ::poll(&p, 1, 1000);
            const ssize_t n = ::write(writer.get(), payload.data() + done, payload.size() - done);
            if (n > 0) done += static_cast<std::size_t>(n);
        }
        ::shutdown(writer.get(), SHUT_WR);
    });
    drive(*pump);
    feed.join();
    EXPECT_EQ(pump->bytes_in(), payload.size());
    EXPECT_EQ(pump->bytes_out(), payload.size());
    std::string back(payload.size(), '\0');
    ASSERT_EQ(::pread(file.get(), back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
    EXPECT_EQ(back, payload);
}

TEST(SplicePump, ResetReadIsAFailureWithItsErrno) {
    nettool::testing::TcpPair tcp;
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    UniqueFd out_read(fds[0]);
    UniqueFd out_write(fds[1]);
    ASSERT_EQ(::send(tcp.peer.get(), "abc", 3, 0), 3);
    auto pump = SplicePump::create(tcp.ours.get(), out_write.get(), "the peer", "the pipe");
    ASSERT_TRUE(pump);
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
    char buffer[8];
    EXPECT_EQ(::read(out_read.get(), buffer, sizeof buffer), 3);
}
