#include <fcntl.h>
#include <gtest/gtest.h>
#include <nettool/event_loop.hpp>
#include <sys/socket.h>
#include <unistd.h>

using namespace nettool;
using namespace std::chrono_literals;

namespace {
std::pair<UniqueFd, UniqueFd> socket_pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}
} // namespace

TEST(EventLoop, ReportsReadableAndHonoursTimeout) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto [a, b] = socket_pair();
    int calls = 0;
    ASSERT_TRUE(loop->add(a.get(), io::readable, [&](std::uint32_t ready) {
        ++calls;
        EXPECT_TRUE(ready & io::readable);
        char c;
        EXPECT_EQ(::read(a.get(), &c, 1), 1);
    }));
    ASSERT_TRUE(loop->run_once(10ms));
    EXPECT_EQ(calls, 0);
    ASSERT_EQ(::write(b.get(), "x", 1), 1);
    ASSERT_TRUE(loop->run_once(1000ms));
    EXPECT_EQ(calls, 1);
}

TEST(EventLoop, NoEventsMeansNoWakeupsEvenOnHangup) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto [a, b] = socket_pair();
    int calls = 0;
    ASSERT_TRUE(loop->add(a.get(), io::readable, [&](std::uint32_t) { ++calls; }));
    ASSERT_TRUE(loop->set_events(a.get(), 0));
    b.reset(); // hang-up on a: must not be reported while nothing is asked
    ASSERT_TRUE(loop->run_once(20ms));
    EXPECT_EQ(calls, 0);
    ASSERT_TRUE(loop->set_events(a.get(), io::hangup));
    ASSERT_TRUE(loop->run_once(1000ms));
    EXPECT_EQ(calls, 1);
}

TEST(EventLoop, HandlerMayRemoveOtherDescriptors) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto [a, b] = socket_pair();
    auto [c, d] = socket_pair();
    int calls = 0;
    const auto handler = [&](std::uint32_t) {
        ++calls;
        loop->remove(a.get());
        loop->remove(c.get());
    };
    ASSERT_TRUE(loop->add(a.get(), io::writable, handler));
    ASSERT_TRUE(loop->add(c.get(), io::writable, handler));
    ASSERT_TRUE(loop->run_once(1000ms));
    EXPECT_EQ(calls, 1); // the second was removed before its turn
    EXPECT_FALSE(loop->watching(a.get()));
}

TEST(EventLoop, RegularFilesAreAlwaysReady) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(null);
    int calls = 0;
    ASSERT_TRUE(loop->add(null.get(), io::readable, [&](std::uint32_t ready) {
        ++calls;
        EXPECT_TRUE(ready & io::readable);
    }));
    ASSERT_TRUE(loop->run_once(5000ms)); // must not wait
    EXPECT_EQ(calls, 1);
}
