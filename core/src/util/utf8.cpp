#include <nettool/utf8.hpp>

namespace nettool {
std::size_t utf8_sequence(std::string_view text, std::size_t i, std::uint32_t& code) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t min = 0;
    if (c < 0x80) {
        code = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0) {
        length = 2;
        code = c & 0x1fU;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        length = 3;
        code = c & 0x0fU;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        length = 4;
        code = c & 0x07U;
        min = 0x10000;
    } else {
        return 0;
    }
    if (i + length > text.size()) return 0;
    for (std::size_t k = 1; k < length; ++k) {
        const auto d = static_cast<unsigned char>(text[i + k]);
        if (!is_utf8_continuation(d)) return 0;
        code = (code << 6) | (d & 0x3fU);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
    return length;
}

bool is_display_control(std::uint32_t code) {
    return code < 0x20 || code == 0x7f || (code >= 0x80 && code <= 0x9f) ||
           (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

} // namespace nettool
