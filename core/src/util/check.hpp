#pragma once
// An always-on assertion for programming errors (never for bad input, which gets an Error):
// a broken invariant stops the program with its place named instead of going on with a wrong
// state. It stays on in release builds because the checks sit outside every hot loop.
#include <source_location>

namespace nettool::util {

[[noreturn]] void check_failed(const char* condition, std::source_location where);

} // namespace nettool::util

#define NETTOOL_CHECK(condition)                                                                   \
    ((condition) ? static_cast<void>(0)                                                            \
                 : ::nettool::util::check_failed(#condition, std::source_location::current()))
