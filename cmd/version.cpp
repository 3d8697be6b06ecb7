#include "version.hpp"

#include "messages.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <nettool/http/library_info.hpp>
#include <string_view>

namespace nettool::cli {

std::string version_text() {
    return fmt::format("nettool {}\n{}", NETTOOL_VERSION, http::built_library_versions());
}

std::optional<int> run_version_only(int argc, const char* const* argv) {
    const auto is = [&](int i, std::string_view word) { return argv[i] == word; };
    const auto is_verbose = [&](int i) { return is(i, "-v") || is(i, "--verbose"); };
    bool verbose = false;
    if (argc == 2 && is(1, "--version")) {
        verbose = false;
    } else if (argc == 3 &&
               ((is(1, "--version") && is_verbose(2)) || (is_verbose(1) && is(2, "--version")))) {
        verbose = true;
    } else {
        return std::nullopt;
    }
    std::string text = version_text() + "\n";
    if (verbose) {
        auto loaded = http::loaded_library_versions();
        if (!loaded) return report(loaded.error());
        text += *loaded + "\n";
    }
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
        std::fflush(stdout) != 0) {
        return report(Error{ErrorKind::file_io, "cannot write the version to standard output"});
    }
    return 0;
}

} // namespace nettool::cli
