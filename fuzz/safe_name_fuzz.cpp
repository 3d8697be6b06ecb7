// Fuzz target: the names a server chooses for `retrieve -O` (safe_name.hpp). The input is a
// Content-Disposition header, optionally followed by '\n' and a URL path; the whole input is
// also tried as a raw name and as a URL path, and as a name written into both header forms.
#include "fuzz_check.hpp"
#include "safe_name_checks.hpp"

#include <cstdint>
#include <nettool/safe_name.hpp>
#include <string>

using namespace nettool;
using namespace nettool::fuzz;

namespace {

// RFC 5987 value-chars: everything but ALPHA / DIGIT written as %XX.
std::string percent_encode(std::string_view text) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')) {
            out += c;
        } else {
            out += '%';
            out += k_hex[u >> 4];
            out += k_hex[u & 0xf];
        }
    }
    return out;
}

// A quoted-string: '"' and '\' escaped with a backslash.
std::string quote(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + '"';
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = as_text(data, size);

    const std::string safe = safe_name(input);
    check_safe_name(safe);
    FUZZ_CHECK(safe_name(safe) == safe); // a safe name is left as it is

    const auto newline = input.find('\n');
    const std::string_view header = input.substr(0, newline);
    const std::string_view path =
        newline == std::string_view::npos ? "/dir/file.bin" : input.substr(newline + 1);
    if (const auto offered = content_disposition_filename(header)) FUZZ_CHECK(!offered->empty());
    check_remote_file_name(remote_file_name(header, path));
    check_remote_file_name(remote_file_name(std::nullopt, input));

    // Whatever name a server writes correctly, in either form, is the name the parser reads.
    if (!input.empty()) {
        const std::string extended = "filename*=UTF-8''" + percent_encode(input);
        FUZZ_CHECK(content_disposition_filename("attachment; " + extended) == input);
        FUZZ_CHECK(content_disposition_filename("attachment; filename=" + quote(input)) == input);
        FUZZ_CHECK(content_disposition_filename("attachment; filename=\"fallback.bin\"; " +
                                                extended) == input);
    }
    return 0;
}
