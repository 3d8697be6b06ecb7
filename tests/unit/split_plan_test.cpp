#include "split_plan.hpp"

#include <gtest/gtest.h>

using nettool::PartSegment;
using nettool::SegmentPlan;
using nettool::SplitGovernor;
using namespace std::chrono_literals;

namespace {
constexpr std::uint64_t MiB = 1024 * 1024;
const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
} // namespace

TEST(SegmentPlan, SplitsTheLargestRemainderInHalvesOnAlignedBoundaries) {
    SegmentPlan plan(10 * MiB);
    plan.at(0).busy = true;
    plan.at(0).done = 2 * MiB;
    const auto half = plan.split_largest(MiB);
    ASSERT_TRUE(half);
    EXPECT_EQ(*half, 6 * MiB); // the middle of the 8 MiB left
    EXPECT_EQ(plan.at(0).end, 6 * MiB);
    EXPECT_EQ(plan.at(*half).end, 10 * MiB);
    EXPECT_EQ(plan.remaining(0), 4 * MiB);
    EXPECT_EQ(plan.next_idle(t0), 6 * MiB); // the new half waits for a connection
    EXPECT_EQ(plan.received(), 2 * MiB);
    EXPECT_FALSE(plan.complete());
}

TEST(SegmentPlan, DoesNotSplitBelowTheSmallestPiece) {
    SegmentPlan plan(3 * MiB);
    EXPECT_TRUE(plan.split_largest(MiB));          // 1.5 + 1.5
    EXPECT_FALSE(plan.split_largest(MiB));         // halves of 1.5 MiB would be too small
    EXPECT_FALSE(SegmentPlan(1).split_largest(1)); // one byte stays one segment
}

TEST(SegmentPlan, ARetryWaitsAndTheMapMergesCompleteSegments) {
    SegmentPlan plan(8 * MiB);
    const auto second = *plan.split_largest(MiB); // [4, 8)
    const auto third = *plan.split_largest(MiB);  // [2, 4): the lowest of equal remainders
    ASSERT_EQ(second, 4 * MiB);
    ASSERT_EQ(third, 2 * MiB);
    plan.at(0).done = 2 * MiB; // complete
    plan.at(second).done = 1000;
    plan.at(second).not_before = t0 + 1s;
    EXPECT_EQ(plan.next_idle(t0), third);
    plan.at(third).busy = true;
    EXPECT_EQ(plan.next_idle(t0), std::nullopt);
    EXPECT_EQ(plan.next_wake(), t0 + 1s);
    EXPECT_EQ(plan.next_idle(t0 + 1s), second);
    const auto meta = plan.to_meta();
    // The complete [0, 2) merges with [2, 4) after it; [4, 8) follows a partial one.
    ASSERT_EQ(meta.size(), 2u);
    EXPECT_EQ(meta[0], (PartSegment{0, 4 * MiB, 2 * MiB}));
    EXPECT_EQ(meta[1], (PartSegment{4 * MiB, 8 * MiB, 1000}));
    const auto back = SegmentPlan::from_meta(8 * MiB, meta);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->received(), plan.received());
    EXPECT_EQ(back->remaining(0), 2 * MiB);
    EXPECT_EQ(back->remaining(4 * MiB), 4 * MiB - 1000);
}

TEST(SegmentPlan, ASegmentGivenBackLengthensTheOneBeforeItAndItsBytesAreNoLongerCounted) {
    SegmentPlan plan(8 * MiB);
    plan.at(0).done = MiB;
    const auto upper = *plan.split_largest(MiB); // [4.5, 8) of the 7 MiB left
    plan.at(upper).done = 512 * 1024;
    EXPECT_EQ(plan.previous(upper), 0u);
    EXPECT_EQ(plan.previous(0), std::nullopt); // the first has none
    plan.merge_into_previous(upper);
    EXPECT_EQ(plan.at(0).end, 8 * MiB);
    EXPECT_EQ(plan.received(), MiB);
    EXPECT_EQ(plan.remaining(0), 7 * MiB);
    EXPECT_EQ(plan.to_meta(), (std::vector<PartSegment>{{0, 8 * MiB, MiB}}));
    plan.merge_into_previous(0); // nothing before the first: unchanged
    EXPECT_EQ(plan.at(0).end, 8 * MiB);
}

TEST(SegmentPlan, AMapWithAGapOrPastTheEndIsNotTrusted) {
    EXPECT_FALSE(SegmentPlan::from_meta(100, {{0, 50, 0}, {60, 100, 0}}));
    EXPECT_FALSE(SegmentPlan::from_meta(100, {{0, 50, 0}}));
    EXPECT_FALSE(SegmentPlan::from_meta(100, {{0, 101, 0}}));
    EXPECT_FALSE(SegmentPlan::from_meta(100, {{0, 100, 101}}));
    EXPECT_TRUE(SegmentPlan::from_meta(100, {{0, 100, 100}})->complete());
}

// Feeds the governor `windows` windows at `rate(target)` bytes per second each.
std::size_t settle(SplitGovernor& governor, double (*rate)(std::size_t), int windows = 10) {
    auto now = t0;
    std::uint64_t received = 0;
    for (int i = 0; i < windows && !governor.settled(); ++i) {
        governor.sample(now, received, governor.target()); // starts a window
        now += 400ms;
        received += static_cast<std::uint64_t>(rate(governor.target()) * 0.4);
        governor.sample(now, received, governor.target()); // ends it
    }
    return governor.target();
}

TEST(SplitGovernor, MultipliesConnectionsThatAreLimitedOneByOne) {
    SplitGovernor governor(8, 300ms);
    EXPECT_EQ(governor.target(), 1u);
    EXPECT_EQ(settle(governor, [](std::size_t n) { return 20e6 * static_cast<double>(n); }), 8u);
    EXPECT_TRUE(governor.settled());
}

TEST(SplitGovernor, KeepsOneFastConnectionAlone) {
    SplitGovernor governor(8, 300ms);
    // The link is full with one connection: a second one only shares it, and goes again.
    EXPECT_EQ(settle(governor, [](std::size_t) { return 1e9; }), 1u);
    EXPECT_TRUE(governor.settled());
}

TEST(SplitGovernor, GoesStraightToTheCapWhenADoublingBringsItsWholeGain) {
    SplitGovernor governor(8, 300ms);
    EXPECT_EQ(settle(
                  governor, [](std::size_t n) { return 20e6 * static_cast<double>(n); }, 2),
              8u);                    // 1, 2, then 8 (no window at 4)
    EXPECT_FALSE(governor.settled()); // the 8 are measured too
}

TEST(SplitGovernor, KeepsConnectionsThatAddLessThanHalfButMoreThanAQuarter) {
    SplitGovernor governor(8, 300ms);
    // A second connection adds 40 % of the first's rate.
    EXPECT_EQ(settle(governor, [](std::size_t n) { return n == 1 ? 10e6 : 14e6; }), 2u);
    EXPECT_TRUE(governor.settled());
}

TEST(SplitGovernor, StopsDoublingWhereTheServerStopsGivingMore) {
    SplitGovernor governor(16, 300ms);
    // 10 MB/s per connection up to 40 MB/s in total: the jump from 2 to 16 does not pay,
    // so the doubling goes on from 2; 8 add nothing to 4 and go again.
    EXPECT_EQ(settle(governor, [](std::size_t n) { return std::min(4.0, double(n)) * 10e6; }), 4u);
    EXPECT_TRUE(governor.settled());
}

TEST(SplitGovernor, EndsAWindowEarlyOnceItSawEnoughBytes) {
    SplitGovernor governor(8, 200ms);
    governor.sample(t0, 0, 1);
    governor.sample(t0 + 40ms, 200'000'000, 1); // too soon, however much came
    EXPECT_EQ(governor.target(), 1u);
    governor.sample(t0 + 60ms, 300'000'000, 1); // a quarter of the window, 300 MB
    EXPECT_EQ(governor.target(), 2u);
    // A slow connection's window lasts its full time.
    SplitGovernor slow(8, 200ms);
    slow.sample(t0, 0, 1);
    slow.sample(t0 + 150ms, 3'000'000, 1);
    EXPECT_EQ(slow.target(), 1u);
    slow.sample(t0 + 200ms, 4'000'000, 1);
    EXPECT_EQ(slow.target(), 2u);
}

TEST(SplitGovernor, MeasuresOnlyWhileEveryConnectionIsReceiving) {
    SplitGovernor governor(8, 300ms);
    governor.sample(t0, 0, 1);
    governor.sample(t0 + 400ms, 8'000'000, 1);
    ASSERT_EQ(governor.target(), 2u);
    // The second connection is still connecting: nothing is measured, however long.
    governor.sample(t0 + 500ms, 9'000'000, 1);
    governor.sample(t0 + 5s, 90'000'000, 1);
    EXPECT_EQ(governor.target(), 2u);
    EXPECT_FALSE(governor.settled());
    // A cap of one never adds.
    EXPECT_TRUE(SplitGovernor(1, 300ms).settled());
}
