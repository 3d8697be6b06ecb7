#include "human_units.hpp"

#include <array>
#include <fmt/format.h>

namespace nettool::cli {

std::string human_bytes(std::uint64_t bytes) {
    static constexpr std::array<const char*, 6> k_units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) return fmt::format("{} B", bytes);
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < k_units.size()) {
        value /= 1024.0;
        ++unit;
    }
    return fmt::format("{:.1f} {}", value, k_units[unit]);
}

std::string human_duration(std::chrono::seconds seconds) {
    const auto total = seconds.count() < 0 ? 0 : seconds.count();
    const auto h = total / 3600;
    const auto m = (total / 60) % 60;
    const auto s = total % 60;
    if (h > 0) return fmt::format("{}:{:02}:{:02}", h, m, s);
    if (m > 0) return fmt::format("{}:{:02}", m, s);
    return fmt::format("{}s", s);
}

} // namespace nettool::cli
