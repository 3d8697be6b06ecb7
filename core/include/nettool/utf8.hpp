#pragma once
// UTF-8 decoding for text that comes from the network or the file system, and the code points
// that change how a terminal shows text. Used by safe names (they drop such characters) and by
// the command line's escaping of foreign text (it shows them as escapes).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace nettool {

// 10xxxxxx: a byte inside a multi-byte sequence (a cut must not land before one).
inline bool is_utf8_continuation(unsigned char c) {
    return (c & 0xc0) == 0x80;
}

// Length (1 to 4) of the valid UTF-8 sequence that starts at text[i], with its code point in
// `code`; 0 when the bytes there are not valid UTF-8 (a stray continuation byte, an overlong
// form, a surrogate, a code point past U+10FFFF, a sequence cut short).
std::size_t utf8_sequence(std::string_view text, std::size_t i, std::uint32_t& code);

// Code points that drive a terminal or reorder what it shows: C0 controls, DEL, C1 controls
// (U+0080-U+009F: U+009B is CSI), and the bidirectional embeddings, overrides and isolates that
// make "evil\u202Etxt.sh" look like "evilhs.txt".
bool is_display_control(std::uint32_t code);

} // namespace nettool
