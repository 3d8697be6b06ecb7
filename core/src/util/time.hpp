#pragma once
// Waiting: one stop-aware sleep and one exponential backoff for every retry loop (connect
// --wait, connect -z --wait, get/retrieve --retry).
#include <chrono>

namespace nettool::util {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Sleeps for `delay` unless a stop is requested first (nettool/stop.hpp); false when stopped.
bool sleep_unless_stopped(milliseconds delay);

// The time left until `deadline`, never negative.
milliseconds time_left(Clock::time_point deadline);

// first * 2^(attempt-1), capped at `cap` (attempt 1 is the first retry).
milliseconds exponential_backoff(milliseconds first, milliseconds cap, int attempt);

} // namespace nettool::util
