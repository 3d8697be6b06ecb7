#include <fmt/format.h>
#include <nettool/retrieve_list.hpp>
#include <nettool/utf8.hpp>

namespace nettool {
namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

// Why the line's text cannot be used as it is, or empty.
std::string unusable_text(std::string_view line) {
    if (line.size() > k_max_list_line)
        return fmt::format("the line is longer than {} bytes", k_max_list_line);
    for (std::size_t i = 0; i < line.size();) {
        std::uint32_t code = 0;
        const std::size_t length = utf8_sequence(line, i, code);
        if (length == 0)
            return fmt::format("byte {} is not valid UTF-8; save the list as UTF-8", i + 1);
        if (code != '\t' && is_display_control(code)) {
            return fmt::format("character {} is a control character (U+{:04X}); remove it", i + 1,
                               code);
        }
        i += length;
    }
    return {};
}

std::vector<std::string_view> fields_of(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_blank(line[i]))
            ++i;
        const std::size_t start = i;
        while (i < line.size() && !is_blank(line[i]))
            ++i;
        if (i > start) fields.push_back(line.substr(start, i - start));
    }
    return fields;
}

} // namespace

ParsedList parse_retrieve_list(std::string_view text) {
    ParsedList parsed;
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        const auto end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1); // CRLF lists
        std::size_t first = 0;
        while (first < line.size() && is_blank(line[first]))
            ++first;
        if (first == line.size() || line[first] == '#') continue;
        if (const std::string why = unusable_text(line); !why.empty()) {
            parsed.problems.push_back({number, why});
            continue;
        }
        const auto fields = fields_of(line);
        if (fields.size() > 2) {
            parsed.problems.push_back(
                {number, fmt::format("{} fields; a line is URL or URL FILE (a FILE cannot hold "
                                     "spaces)",
                                     fields.size())});
            continue;
        }
        ListEntry entry;
        entry.line = number;
        entry.url = std::string(fields[0]);
        if (fields.size() == 2) {
            if (fields[1] == "-") {
                parsed.problems.push_back(
                    {number, "FILE '-' (standard output) cannot take one of many downloads; "
                             "name a file"});
                continue;
            }
            entry.file = std::string(fields[1]);
        }
        parsed.entries.push_back(std::move(entry));
    }
    return parsed;
}

} // namespace nettool
