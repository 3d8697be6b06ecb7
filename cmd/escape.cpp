#include "escape.hpp"

#include <fmt/format.h>
#include <nettool/utf8.hpp>

namespace nettool::cli {

std::string escape_for_terminal(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        std::uint32_t code = 0;
        const std::size_t length = utf8_sequence(text, i, code);
        if (length == 0) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i]));
            ++i;
            continue;
        }
        if (!is_display_control(code))
            out.append(text.substr(i, length));
        else if (length == 1)
            out += fmt::format("\\x{:02x}", code);
        else
            out += fmt::format("\\u{:04x}", code);
        i += length;
    }
    return out;
}

namespace {

// East Asian wide and fullwidth blocks and the emoji planes: two columns on a terminal. Counting
// one too many for a character is harmless (a line ends a little short); one too few is not.
bool is_wide(std::uint32_t code) {
    return (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf) ||
           (code >= 0xac00 && code <= 0xd7a3) || (code >= 0xf900 && code <= 0xfaff) ||
           (code >= 0xfe30 && code <= 0xfe4f) || (code >= 0xff00 && code <= 0xff60) ||
           (code >= 0xffe0 && code <= 0xffe6) || (code >= 0x1f300 && code <= 0x1faff) ||
           (code >= 0x20000 && code <= 0x3fffd);
}

} // namespace

std::size_t code_point_columns(std::string_view text, std::size_t i, std::size_t& length) {
    std::uint32_t code = 0;
    length = utf8_sequence(text, i, code);
    if (length == 0) {
        length = 1; // not UTF-8 (escaped text never has such bytes): one column, as a byte
        return 1;
    }
    return is_wide(code) ? 2 : 1;
}

std::size_t terminal_columns(std::string_view text) {
    std::size_t n = 0;
    for (std::size_t i = 0, length = 0; i < text.size(); i += length)
        n += code_point_columns(text, i, length);
    return n;
}

} // namespace nettool::cli
