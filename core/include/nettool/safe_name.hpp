#pragma once
// Every name a server supplies (the URL path's last segment, Content-Disposition) goes through
// one function before it touches the file system: a server must not be able to choose where a
// file lands (`../../evil.sh`, `/etc/passwd`), hide it (`.bashrc`), or put escape sequences on
// the user's terminal through a file name.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace nettool {

// Longest name safe_name() returns, in bytes (NAME_MAX is 255; room is left for ".part.meta").
inline constexpr std::size_t k_max_safe_name = 200;

// Reduces a server-supplied name to a safe base name: the part after the last '/' or '\\';
// control characters (0x00-0x1f, 0x7f) and invalid UTF-8 become '_'; surrounding blanks and
// leading dots are stripped (so "." and ".." vanish); at most k_max_safe_name bytes, cut on a
// UTF-8 boundary and keeping a short extension. Returns "" when nothing is left.
std::string safe_name(std::string_view raw);

// %XX decoding (invalid escapes are kept literally). '+' is not a space in a path.
std::string percent_decode(std::string_view text);

// The file name a Content-Disposition header offers, decoded but not yet made safe:
// RFC 6266/5987 `filename*=UTF-8''%e2%82%ac.txt` (UTF-8 or ISO-8859-1) is preferred over
// `filename="..."` (quoted-string with backslash escapes) or `filename=token`.
// nullopt when the header carries no usable file name.
std::optional<std::string> content_disposition_filename(std::string_view header);

// The name `retrieve -O` uses: Content-Disposition's if it yields a safe name, else the last
// segment of the URL's path (percent-decoded), else "index.html" for a path that is empty or
// ends in '/', else "download". Never empty, never a path.
std::string remote_file_name(std::optional<std::string_view> content_disposition,
                             std::string_view url_path);

} // namespace nettool
