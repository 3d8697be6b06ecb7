#include "check.hpp"

#include <cstdio>
#include <cstdlib>

namespace nettool::util {

void check_failed(const char* condition, const char* file, int line) {
    // The one place core/ writes to stderr: the program cannot go on and has no caller to tell.
    std::fprintf(stderr,
                 "nettool: internal error: '%s' does not hold at %s:%d; please report this\n",
                 condition, file, line);
    std::abort();
}

} // namespace nettool::util
