#pragma once
// The LIST of `retrieve -i`: one download per line, `URL` or `URL FILE` separated by spaces or
// tabs; blank lines and lines starting with '#' are skipped. A line that cannot be used is a
// problem of that line alone (the others still run), reported with its number.
//
// A line is refused when it holds a control character or a bidirectional override (a name
// that would show differently than it is), is not valid UTF-8, is longer than
// k_max_list_line, has more than two fields (FILE cannot hold a space), or names '-'
// (standard output is not a place for many files) as FILE.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

inline constexpr std::size_t k_max_list_line = 65536;

struct ListEntry {
    std::size_t line = 0; // 1-based
    std::string url;      // as written (parsed later, where URLs are parsed)
    std::optional<std::string> file;
};

struct ListProblem {
    std::size_t line = 0;
    std::string message; // what is wrong and how to fix it, without the list's name
};

struct ParsedList {
    std::vector<ListEntry> entries;
    std::vector<ListProblem> problems;
};

ParsedList parse_retrieve_list(std::string_view text);

} // namespace nettool
