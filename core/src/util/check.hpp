#pragma once
// An always-on assertion for programming errors (never for bad input, which gets an Error):
// a broken invariant stops the program with its place named instead of going on with a wrong
// state. It stays on in release builds because the checks sit outside every hot loop.
// (__FILE__/__LINE__ rather than std::source_location, which clang 14 cannot give libstdc++.)

namespace nettool::util {

[[noreturn]] void check_failed(const char* condition, const char* file, int line);

} // namespace nettool::util

#define NETTOOL_CHECK(condition)                                                                   \
    ((condition) ? static_cast<void>(0)                                                            \
                 : ::nettool::util::check_failed(#condition, __FILE__, __LINE__))
