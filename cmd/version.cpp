#include "version.hpp"

#include <fmt/format.h>

#include <nettool/http/library_info.hpp>

namespace nettool::cli {
std::string version_text() {
    return fmt::format("nettool {}\n{}", NETTOOL_VERSION, http::library_versions());
}
} // namespace nettool::cli
