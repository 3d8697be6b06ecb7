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

std::size_t terminal_columns(std::string_view text) {
    std::size_t n = 0;
    for (const char c : text)
        n += is_utf8_continuation(static_cast<unsigned char>(c)) ? 0 : 1;
    return n;
}

} // namespace nettool::cli
