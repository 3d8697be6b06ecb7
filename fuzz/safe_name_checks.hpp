#pragma once
// What every name nettool derives from a server's words must be (safe_name.hpp): a single
// path component that is not hidden, not "." or "..", bounded, valid UTF-8, and free of
// anything that changes how a terminal shows it.
#include "fuzz_check.hpp"

#include <cstdint>
#include <nettool/safe_name.hpp>
#include <string_view>

namespace nettool::fuzz {

// Decodes one UTF-8 sequence at text[i] (shortest form, no surrogates); 0 when invalid.
inline std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& code) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80             ? 1
                         : (c & 0xe0) == 0xc0 ? 2
                         : (c & 0xf0) == 0xe0 ? 3
                         : (c & 0xf8) == 0xf0 ? 4
                                              : 0;
    if (length == 0 || i + length > text.size()) return 0;
    code = length == 1 ? c : c & (0x7fU >> length);
    for (std::size_t k = 1; k < length; ++k) {
        const auto d = static_cast<unsigned char>(text[i + k]);
        if ((d & 0xc0) != 0x80) return 0;
        code = (code << 6) | (d & 0x3fU);
    }
    constexpr std::uint32_t k_min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < k_min[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
    return length;
}

inline void check_safe_name(std::string_view name) {
    FUZZ_CHECK(name.size() <= k_max_safe_name);
    FUZZ_CHECK(name.find('/') == std::string_view::npos);
    FUZZ_CHECK(name.find('\\') == std::string_view::npos);
    FUZZ_CHECK(name != "." && name != "..");
    FUZZ_CHECK(!name.starts_with('.'));
    FUZZ_CHECK(!name.starts_with(' ') && !name.ends_with(' '));
    for (std::size_t i = 0; i < name.size();) {
        std::uint32_t code = 0;
        const std::size_t length = decode_utf8(name, i, code);
        FUZZ_CHECK(length != 0);                                                     // valid UTF-8
        FUZZ_CHECK(code >= 0x20 && code != 0x7f && !(code >= 0x80 && code <= 0x9f)); // C0, DEL, C1
        FUZZ_CHECK(!(code >= 0x202a && code <= 0x202e) && !(code >= 0x2066 && code <= 0x2069));
        i += length;
    }
}

// remote_file_name() is safe_name() plus: never empty.
inline void check_remote_file_name(std::string_view name) {
    FUZZ_CHECK(!name.empty());
    check_safe_name(name);
}

} // namespace nettool::fuzz
