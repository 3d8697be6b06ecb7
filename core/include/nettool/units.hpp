#pragma once
// Durations and sizes as users type them (nettool(1)).
#include <chrono>
#include <cstdint>
#include <nettool/error.hpp>
#include <string_view>

namespace nettool {

// "5" and "5s" are seconds; also "250ms", "2m", "1h", and fractions such as "1.5s".
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// "1024" bytes; "64K", "10M", "1G", "1T" are binary multiples (KiB, MiB ...); "k" works too.
Result<std::uint64_t> parse_size(std::string_view text);

} // namespace nettool
