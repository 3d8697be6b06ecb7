#pragma once
#include <optional>
#include <string>

namespace nettool::cli {

// "nettool 0.1.0" and the versions of libcurl and OpenSSL nettool was built against; loads
// nothing (nettool(1), --version).
std::string version_text();

// `nettool --version` and `nettool --version -v` (also `-v --version`, `--verbose`), answered
// before the command line is built, so that asking for the version costs no more than starting:
// the exit code, or nothing for any other command line. With -v the HTTP module is loaded and
// the versions of the libraries in use are printed too (exit 1 when it cannot be loaded).
std::optional<int> run_version_only(int argc, const char* const* argv);

} // namespace nettool::cli
