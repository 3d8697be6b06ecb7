#include "util/time.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <nettool/http/retry_policy.hpp>
#include <random>
#include <string>

namespace nettool::http {

bool is_transient_status(int http_status) {
    switch (http_status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return true;
    default:
        return false;
    }
}

bool is_transient(const TransferError& failure) {
    switch (failure.cause) {
    case FailureCause::connect:
    case FailureCause::timeout:
    case FailureCause::reset:
    case FailureCause::partial:
        return true;
    case FailureCause::http_status:
        return is_transient_status(failure.http_status);
    default:
        return false;
    }
}

std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
        value.remove_prefix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
        value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        std::uint64_t seconds = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
        if (ec == std::errc::result_out_of_range) return std::chrono::milliseconds::max();
        if (ec != std::errc{} || ptr != value.data() + value.size()) return std::nullopt;
        if (seconds > 1'000'000'000ULL) return std::chrono::milliseconds::max();
        return std::chrono::milliseconds(seconds * 1000);
    }
    // An HTTP date: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), or the obsolete RFC 850
    // ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994") forms.
    const std::string text(value);
    for (const char* format :
         {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
        std::tm tm{};
        const char* end = ::strptime(text.c_str(), format, &tm);
        if (end == nullptr || *end != '\0') continue;
        const std::time_t when = ::timegm(&tm);
        if (when == static_cast<std::time_t>(-1)) return std::nullopt;
        const auto target = std::chrono::system_clock::from_time_t(when);
        if (target <= now) return std::chrono::milliseconds(0);
        return std::chrono::duration_cast<std::chrono::milliseconds>(target - now);
    }
    return std::nullopt;
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double jitter) {
    const auto capped = util::exponential_backoff(policy.initial_delay, policy.max_delay, retry);
    const double factor = 0.5 + 0.5 * std::clamp(jitter, 0.0, 1.0);
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(static_cast<double>(capped.count()) * factor));
}

std::optional<std::chrono::milliseconds> retry_delay(const RetryPolicy& policy, int retry,
                                                     const TransferError& failure,
                                                     std::chrono::system_clock::time_point now,
                                                     double jitter) {
    if (retry < 1 || retry > policy.max_retries || !is_transient(failure)) return std::nullopt;
    if (failure.retry_after) {
        if (auto wait = parse_retry_after(*failure.retry_after, now)) {
            return std::min(*wait, policy.max_retry_after);
        }
    }
    return backoff_delay(policy, retry, jitter);
}

double random_jitter() {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

} // namespace nettool::http
