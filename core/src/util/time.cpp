#include "time.hpp"

#include <algorithm>
#include <cstdint>
#include <nettool/stop.hpp>
#include <poll.h>

namespace nettool::util {

bool sleep_unless_stopped(milliseconds delay) {
    const auto end = Clock::now() + delay;
    while (!stop_requested()) {
        const milliseconds left = time_left(end);
        if (left.count() == 0) return true;
        pollfd fd = {stop_fd(), POLLIN, 0};
        // Without a stop descriptor (not initialised) poll() just sleeps: it ignores fd -1.
        ::poll(&fd, 1, static_cast<int>(std::min<milliseconds::rep>(left.count(), 1000)));
    }
    return false;
}

milliseconds time_left(Clock::time_point deadline) {
    return std::max(milliseconds{0}, std::chrono::ceil<milliseconds>(deadline - Clock::now()));
}

milliseconds exponential_backoff(milliseconds first, milliseconds cap, int attempt) {
    // 2^(attempt-1) as a shift, exact up to 2^62 (std::pow would make the binary map libm).
    const int exponent = std::clamp(attempt - 1, 0, 62);
    const double delay =
        static_cast<double>(first.count()) * static_cast<double>(std::uint64_t{1} << exponent);
    return milliseconds(
        static_cast<milliseconds::rep>(std::min(delay, static_cast<double>(cap.count()))));
}

} // namespace nettool::util
