#include "check.hpp"

#include <cstdio>
#include <cstdlib>

namespace nettool::util {

void check_failed(const char* condition, std::source_location where) {
    // The one place core/ writes to stderr: the program cannot go on and has no caller to tell.
    std::fprintf(stderr,
                 "nettool: internal error: '%s' does not hold at %s:%u; please report this\n",
                 condition, where.file_name(), static_cast<unsigned>(where.line()));
    std::abort();
}

} // namespace nettool::util
