// Fuzz target: URLs as users type them (http/url.hpp, libcurl's CURLU underneath). A URL that
// parses has a scheme the engine fetches, its normalized text parses to the same URL, and the
// name `retrieve -O` derives from its path is safe.
#include "fuzz_check.hpp"
#include "safe_name_checks.hpp"

#include <algorithm>
#include <cstdint>
#include <nettool/http/url.hpp>
#include <nettool/safe_name.hpp>

using namespace nettool;
using namespace nettool::fuzz;

namespace {

bool is_blank_or_control(char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto url = http::parse_url(as_text(data, size));
    if (!url) {
        FUZZ_CHECK(url.error().kind == ErrorKind::usage || url.error().kind == ErrorKind::generic);
        return 0;
    }
    FUZZ_CHECK(url->scheme == "http" || url->scheme == "https" || url->scheme == "ftp" ||
               url->scheme == "ftps" || url->scheme == "file");
    FUZZ_CHECK(url->scheme == "file" || !url->host.empty());
    FUZZ_CHECK(url->text.starts_with(url->scheme + ":"));
    FUZZ_CHECK(std::none_of(url->text.begin(), url->text.end(), is_blank_or_control));
    const auto again = http::parse_url(url->text);
    FUZZ_CHECK(again);
    FUZZ_CHECK(again->text == url->text);
    FUZZ_CHECK(again->scheme == url->scheme && again->host == url->host &&
               again->port == url->port);
    FUZZ_CHECK(again->path == url->path && again->query == url->query);
    FUZZ_CHECK(again->has_credentials == url->has_credentials);
    check_remote_file_name(remote_file_name(std::nullopt, url->path));
    return 0;
}
