#pragma once
// When and after how long a failed transfer is tried again (get --retry, retrieve --retry).
// Pure functions: the caller supplies the clock and the random jitter, so they are testable.
//
// Transient (retried): connection refused/reset, timeouts, a body cut short, and HTTP 408,
// 429, 500, 502, 503, 504. Everything else (name resolution, TLS, auth, 404, bad URL, local
// files) fails at once: trying again would give the same answer.
// Delay: initial * 2^(retry-1), capped at max_delay, scaled by a jitter factor in [0.5, 1]
// so that many clients do not retry in lockstep. A Retry-After header (seconds or an HTTP
// date) replaces the computed delay, capped at max_retry_after.
#include <chrono>
#include <nettool/http/transfer.hpp>
#include <optional>
#include <string_view>

namespace nettool::http {

struct RetryPolicy {
    int max_retries = 0; // retries after the first attempt
    std::chrono::milliseconds initial_delay{1000};
    std::chrono::milliseconds max_delay{30'000};
    std::chrono::milliseconds max_retry_after{120'000};
};

// Whether the failure is transient (see above).
bool is_transient(const TransferError& failure);
bool is_transient_status(int http_status);

// A Retry-After value: delta-seconds ("120") or an HTTP date relative to `now`. A date in
// the past gives 0; an unparsable value gives nullopt.
std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);

// The backoff before retry number `retry` (1 = the first retry); jitter in [0, 1] picks the
// point in [0.5, 1] x the exponential delay.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double jitter);

// The wait before retry number `retry` after `failure`, or nullopt when it must not be
// retried (not transient, or the retries are used up).
std::optional<std::chrono::milliseconds> retry_delay(const RetryPolicy& policy, int retry,
                                                     const TransferError& failure,
                                                     std::chrono::system_clock::time_point now,
                                                     double jitter);

// A uniformly random jitter in [0, 1] for callers outside tests.
double random_jitter();

} // namespace nettool::http
