#pragma once
// The one escape for foreign text (status lines, headers, names, peer data, file names) on its
// way to a terminal. Every human line nettool writes passes it where the line is assembled
// (messages.cpp, serve's event lines, the progress display, clean's lines), so no call site
// has to remember it.
#include <string>
#include <string_view>

namespace nettool::cli {

// Returns `text` with everything that could drive or reorder a terminal made visible:
// - a byte that is not part of valid UTF-8, a C0 control (tab and newline included) and DEL
//   become \xNN (ESC is \x1b, a raw 0x9b is \x9b);
// - a UTF-8 encoded C1 control (U+0080-U+009F) or bidirectional control (U+202A-U+202E,
//   U+2066-U+2069) becomes \uNNNN (U+009B is \u009b);
// - everything else, printable UTF-8 included, passes unchanged. A backslash is not doubled, so
//   escaping twice changes nothing.
std::string escape_for_terminal(std::string_view text);

// The columns an escaped text takes on a terminal: one per UTF-8 code point, two for East Asian
// wide characters and emoji (combining marks count one: a line may end short, never long).
std::size_t terminal_columns(std::string_view text);

// The columns of the one character that starts at text[i], its byte length in `length`.
std::size_t code_point_columns(std::string_view text, std::size_t i, std::size_t& length);

} // namespace nettool::cli
