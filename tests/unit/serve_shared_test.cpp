// What serve's workers share (core/src/serve_internal.hpp): the global --max-conns count and
// the wake-ups that tell stopped workers to look again.
#include "serve_internal.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <thread>
#include <vector>

using nettool::serve_detail::SharedState;

namespace {
bool woken(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}
} // namespace

TEST(ServeShared, WithoutALimitEverySlotIsFree) {
    SharedState shared(std::nullopt);
    for (int i = 0; i < 1000; ++i)
        EXPECT_TRUE(shared.take_slot());
    EXPECT_FALSE(shared.full());
}

TEST(ServeShared, TheLimitCountsOverAllWorkersAndAFreedSlotWakesThem) {
    SharedState shared(2);
    const auto a = shared.add_worker();
    const auto b = shared.add_worker();
    ASSERT_TRUE(a && b);
    EXPECT_TRUE(shared.take_slot());
    EXPECT_TRUE(shared.take_slot());
    EXPECT_FALSE(shared.take_slot());
    EXPECT_TRUE(shared.full());
    EXPECT_FALSE(woken(*a));
    shared.give_slot(); // the server was full: both workers stopped accepting
    EXPECT_TRUE(woken(*a));
    EXPECT_TRUE(woken(*b));
    SharedState::drain(*a);
    SharedState::drain(*b);
    EXPECT_FALSE(woken(*a));
    EXPECT_FALSE(shared.full());
    EXPECT_TRUE(shared.take_slot());
}

TEST(ServeShared, ConcurrentTakersNeverExceedTheLimit) {
    SharedState shared(100);
    std::vector<std::thread> threads;
    std::atomic<int> taken{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i)
                if (shared.take_slot()) ++taken;
        });
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(taken.load(), 100);
}

TEST(ServeShared, StopAllWakesEveryWorker) {
    SharedState shared(std::nullopt);
    const auto a = shared.add_worker();
    ASSERT_TRUE(a);
    EXPECT_FALSE(shared.stopping());
    shared.stop_all();
    EXPECT_TRUE(shared.stopping());
    EXPECT_TRUE(woken(*a));
}
