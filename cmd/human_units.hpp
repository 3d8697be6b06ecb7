#pragma once
// Sizes, rates and times for people: "1.2 MiB", "640 KiB/s", "1:05".
#include <chrono>
#include <cstdint>
#include <string>

namespace nettool::cli {

// Binary units like the SIZE options take: "512 B", "1.0 KiB", "1.2 MiB", "3.4 GiB".
std::string human_bytes(std::uint64_t bytes);

// "42s", "3:07", "1:02:03".
std::string human_duration(std::chrono::seconds seconds);

} // namespace nettool::cli
