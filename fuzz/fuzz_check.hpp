#pragma once
// Invariant checks for the fuzz targets. Always on (a release build's NDEBUG does not remove
// them); a failed check prints what broke and aborts, which libFuzzer records as a crash and
// saves the input that caused it.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) nettool::fuzz::check_failed(#condition, __FILE__, __LINE__);             \
    } while (false)

namespace nettool::fuzz {

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, condition);
    std::abort();
}

inline std::string_view as_text(const unsigned char* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

} // namespace nettool::fuzz
