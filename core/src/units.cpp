#include <cmath>
#include <cstdint>
#include <fmt/format.h>
#include <limits>
#include <nettool/units.hpp>

namespace nettool {
namespace {

// Splits "1.5ms" into 1.5 and "ms"; false when there is no leading number (digits with at most
// one '.', and at least one digit). Read by hand rather than with std::from_chars for double,
// whose libstdc++ code needs libm: the binary does not map libm (ARCHITECTURE.md, "Start-up").
// The digits are kept as an integer while they fit (19 of them), so that a whole number reads
// exactly as from_chars would read it, and divided once by the power of ten of the decimals.
bool split_number(std::string_view text, double& number, std::string_view& suffix) {
    constexpr std::uint64_t k_fits = (std::numeric_limits<std::uint64_t>::max() - 9) / 10;
    std::uint64_t exact = 0; // the digits while they fit
    double digits = 0;       // the digits once they do not
    bool fits = true;
    double scale = 1;
    bool any_digit = false;
    bool seen_point = false;
    std::size_t end = 0;
    for (; end < text.size(); ++end) {
        const char c = text[end];
        if (c >= '0' && c <= '9') {
            const auto digit = static_cast<unsigned>(c - '0');
            if (fits && exact <= k_fits) {
                exact = exact * 10 + digit;
            } else {
                if (fits) digits = static_cast<double>(exact);
                fits = false;
                digits = digits * 10 + digit;
            }
            if (seen_point) scale *= 10;
            any_digit = true;
        } else if (c == '.' && !seen_point) {
            seen_point = true;
        } else {
            break;
        }
    }
    if (!any_digit || (end < text.size() && text[end] == '.')) return false;
    number = (fits ? static_cast<double>(exact) : digits) / scale;
    suffix = text.substr(end);
    return true;
}

} // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
    double number = 0;
    std::string_view suffix;
    if (!split_number(text, number, suffix) || !std::isfinite(number)) {
        return fail(ErrorKind::usage,
                    fmt::format("bad duration '{}'; write a number with an optional unit, such as "
                                "5, 5s, 250ms, 2m or 1h",
                                text));
    }
    double factor_ms = 0;
    if (suffix.empty() || suffix == "s")
        factor_ms = 1000;
    else if (suffix == "ms")
        factor_ms = 1;
    else if (suffix == "m")
        factor_ms = 60'000;
    else if (suffix == "h")
        factor_ms = 3'600'000;
    else {
        return fail(ErrorKind::usage,
                    fmt::format("bad duration '{}': unknown unit '{}'; use ms, s, m "
                                "or h",
                                text, suffix));
    }
    const double ms = number * factor_ms;
    if (ms > static_cast<double>(std::numeric_limits<std::int32_t>::max()) * 1000.0) {
        return fail(ErrorKind::usage, fmt::format("duration '{}' is too long", text));
    }
    // Rounded to the nearest millisecond (ms is not negative; + 0.5 and truncation is
    // std::round without libm).
    return std::chrono::milliseconds(static_cast<std::int64_t>(ms + 0.5));
}

Result<std::uint64_t> parse_size(std::string_view text) {
    double number = 0;
    std::string_view suffix;
    if (!split_number(text, number, suffix) || !std::isfinite(number)) {
        return fail(ErrorKind::usage, fmt::format("bad size '{}'; write a number of bytes with an "
                                                  "optional K, M or G, such as 1024, 64K or 10M",
                                                  text));
    }
    double factor = 0;
    if (suffix.empty() || suffix == "B" || suffix == "b")
        factor = 1;
    else if (suffix == "K" || suffix == "k" || suffix == "KiB")
        factor = 1024.0;
    else if (suffix == "M" || suffix == "m" || suffix == "MiB")
        factor = 1024.0 * 1024;
    else if (suffix == "G" || suffix == "g" || suffix == "GiB")
        factor = 1024.0 * 1024 * 1024;
    else if (suffix == "T" || suffix == "t" || suffix == "TiB")
        factor = 1024.0 * 1024 * 1024 * 1024;
    else {
        return fail(ErrorKind::usage,
                    fmt::format("bad size '{}': unknown unit '{}'; use K, M or G", text, suffix));
    }
    const double bytes = std::floor(number * factor);
    if (bytes >= 18e18) return fail(ErrorKind::usage, fmt::format("size '{}' is too large", text));
    return static_cast<std::uint64_t>(bytes);
}

} // namespace nettool
