#include <gtest/gtest.h>
#include <nettool/units.hpp>

using namespace std::chrono_literals;
using nettool::ErrorKind;
using nettool::parse_duration;
using nettool::parse_size;

TEST(Duration, AcceptsEveryDocumentedForm) {
    EXPECT_EQ(*parse_duration("5"), 5000ms);
    EXPECT_EQ(*parse_duration("5s"), 5000ms);
    EXPECT_EQ(*parse_duration("250ms"), 250ms);
    EXPECT_EQ(*parse_duration("2m"), 120000ms);
    EXPECT_EQ(*parse_duration("1h"), 3600000ms);
    EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
    EXPECT_EQ(*parse_duration("0"), 0ms);
}

// The number is read by hand (no libm in the binary): decimals, rounding to the millisecond.
TEST(Duration, ReadsDecimalsAndRoundsToTheMillisecond) {
    EXPECT_EQ(*parse_duration("0.1s"), 100ms);
    EXPECT_EQ(*parse_duration(".5"), 500ms);
    EXPECT_EQ(*parse_duration("5."), 5000ms);
    EXPECT_EQ(*parse_duration("2.5ms"), 3ms);
    EXPECT_EQ(*parse_duration("2.4ms"), 2ms);
    EXPECT_EQ(*parse_duration("0.0001s"), 0ms);
    EXPECT_EQ(*parse_duration("007.250s"), 7250ms);
    for (const char* bad : {"1.2.3", "1..5s", "5.s.", ".s"})
        EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(Duration, RejectsGarbageWithAUsageError) {
    for (const char* bad : {"", "s", "-1", "5x", "5 s", "abc", "1e9999", ".", "5sec"}) {
        auto result = parse_duration(bad);
        ASSERT_FALSE(result) << bad;
        EXPECT_EQ(result.error().kind, ErrorKind::usage) << bad;
        EXPECT_NE(result.error().message.find("duration"), std::string::npos) << bad;
    }
}

TEST(Size, AcceptsEveryDocumentedForm) {
    EXPECT_EQ(*parse_size("1024"), 1024u);
    EXPECT_EQ(*parse_size("64K"), 65536u);
    EXPECT_EQ(*parse_size("10M"), 10u * 1024 * 1024);
    EXPECT_EQ(*parse_size("1G"), 1024u * 1024 * 1024);
    EXPECT_EQ(*parse_size("1.5K"), 1536u);
    EXPECT_EQ(*parse_size("0.5M"), 512u * 1024);
    EXPECT_EQ(*parse_size("1.0000001K"), 1024u);
    EXPECT_FALSE(parse_size("1.5.K"));
    // A whole number reads exactly, up to the limit (the fuzz target's round trip).
    EXPECT_EQ(*parse_size("9007199254740993"), 9007199254740992u);
    EXPECT_EQ(*parse_size("17999999999999997952"), 17999999999999997952u);
    const auto big = parse_size("999998t");
    ASSERT_TRUE(big);
    const auto again = parse_size(std::to_string(*big));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *big);
}

TEST(Size, RejectsGarbageWithAUsageError) {
    for (const char* bad : {"", "K", "-5", "10X", "1e3", "99999999999999999999G"}) {
        auto result = parse_size(bad);
        ASSERT_FALSE(result) << bad;
        EXPECT_EQ(result.error().kind, ErrorKind::usage) << bad;
    }
}
