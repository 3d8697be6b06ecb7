#pragma once
// Durations in messages as users write them: "10s", "250ms", "1.5s".
#include <chrono>
#include <fmt/format.h>
#include <string>

namespace nettool {
inline std::string duration_text(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
    if (ms > 1000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
    return fmt::format("{}ms", ms);
}
} // namespace nettool
