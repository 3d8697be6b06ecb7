#include <gtest/gtest.h>
#include <nettool/http/retry_policy.hpp>

using namespace nettool;
using namespace nettool::http;
using namespace std::chrono_literals;

namespace {
TransferError failure_with(FailureCause cause, int status = 0,
                           std::optional<std::string> retry_after = {}) {
    TransferError failure;
    failure.error = Error{ErrorKind::network, "x"};
    failure.cause = cause;
    failure.http_status = status;
    failure.retry_after = std::move(retry_after);
    return failure;
}
const auto k_now =
    std::chrono::system_clock::from_time_t(784111777); // Sun, 06 Nov 1994 08:49:37 GMT
} // namespace

TEST(RetryPolicy, TransientCauses) {
    for (auto cause : {FailureCause::connect, FailureCause::timeout, FailureCause::reset,
                       FailureCause::partial}) {
        EXPECT_TRUE(is_transient(failure_with(cause)));
    }
    for (auto cause : {FailureCause::resolve, FailureCause::tls, FailureCause::auth,
                       FailureCause::usage, FailureCause::redirect, FailureCause::protocol,
                       FailureCause::local_io, FailureCause::sink, FailureCause::interrupted}) {
        EXPECT_FALSE(is_transient(failure_with(cause)));
    }
}

TEST(RetryPolicy, TransientStatuses) {
    for (int status : {408, 429, 500, 502, 503, 504}) {
        EXPECT_TRUE(is_transient(failure_with(FailureCause::http_status, status))) << status;
    }
    for (int status : {400, 401, 403, 404, 410, 416, 501, 505}) {
        EXPECT_FALSE(is_transient(failure_with(FailureCause::http_status, status))) << status;
    }
}

TEST(RetryPolicy, RetryAfterSeconds) {
    EXPECT_EQ(parse_retry_after("120", k_now), 120s);
    EXPECT_EQ(parse_retry_after(" 0 ", k_now), 0s);
    EXPECT_EQ(parse_retry_after("soon", k_now), std::nullopt);
    EXPECT_EQ(parse_retry_after("", k_now), std::nullopt);
    EXPECT_EQ(parse_retry_after("-5", k_now), std::nullopt);
}

TEST(RetryPolicy, RetryAfterDates) {
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", k_now), 30s);
    EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", k_now), 60s);
    EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:47 1994", k_now), 10s);
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", k_now), 0s); // in the past
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:07 CET", k_now), std::nullopt);
}

TEST(RetryPolicy, BackoffDoublesWithJitterAndCap) {
    RetryPolicy policy;
    policy.initial_delay = 1000ms;
    policy.max_delay = 5000ms;
    EXPECT_EQ(backoff_delay(policy, 1, 1.0), 1000ms);
    EXPECT_EQ(backoff_delay(policy, 1, 0.0), 500ms);
    EXPECT_EQ(backoff_delay(policy, 2, 1.0), 2000ms);
    EXPECT_EQ(backoff_delay(policy, 3, 1.0), 4000ms);
    EXPECT_EQ(backoff_delay(policy, 4, 1.0), 5000ms); // capped
    EXPECT_EQ(backoff_delay(policy, 60, 0.5), 3750ms);
    EXPECT_EQ(backoff_delay(policy, 1000, 1.0), 5000ms); // no overflow
}

TEST(RetryPolicy, RetryDelayCountsRetriesAndHonoursRetryAfter) {
    RetryPolicy policy;
    policy.max_retries = 2;
    policy.max_retry_after = 60s;
    const auto reset = failure_with(FailureCause::reset);
    EXPECT_EQ(retry_delay(policy, 1, reset, k_now, 1.0), 1000ms);
    EXPECT_EQ(retry_delay(policy, 2, reset, k_now, 1.0), 2000ms);
    EXPECT_EQ(retry_delay(policy, 3, reset, k_now, 1.0), std::nullopt); // used up
    EXPECT_EQ(retry_delay(policy, 1, failure_with(FailureCause::tls), k_now, 1.0), std::nullopt);
    EXPECT_EQ(retry_delay(policy, 1, failure_with(FailureCause::http_status, 429, "7"), k_now, 1.0),
              7s);
    EXPECT_EQ(
        retry_delay(policy, 1, failure_with(FailureCause::http_status, 503, "3600"), k_now, 1.0),
        60s);
    // An unparsable Retry-After falls back to the backoff.
    EXPECT_EQ(
        retry_delay(policy, 1, failure_with(FailureCause::http_status, 503, "later"), k_now, 1.0),
        1000ms);
    RetryPolicy none;
    EXPECT_EQ(retry_delay(none, 1, reset, k_now, 1.0), std::nullopt);
}

TEST(RetryPolicy, JitterIsInRange) {
    for (int i = 0; i < 100; ++i) {
        const double j = random_jitter();
        EXPECT_GE(j, 0.0);
        EXPECT_LE(j, 1.0);
    }
}
