// Fuzz target: the LIST of retrieve -i (retrieve_list.hpp). Every line is an entry or a
// problem, never both; line numbers rise; entries hold one URL and at most one FILE, without
// blanks or control characters, and never '-' as FILE.
#include "fuzz_check.hpp"

#include <cstdint>
#include <nettool/retrieve_list.hpp>

using namespace nettool;
using namespace nettool::fuzz;

namespace {
bool has_blank_or_control(const std::string& text) {
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == ' ') return true;
    }
    return false;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = as_text(data, size);
    const ParsedList parsed = parse_retrieve_list(text);
    std::size_t lines = 1;
    for (const char c : text)
        lines += c == '\n' ? 1 : 0;
    std::size_t last = 0;
    for (const auto& entry : parsed.entries) {
        FUZZ_CHECK(entry.line > last && entry.line <= lines);
        last = entry.line;
        FUZZ_CHECK(!entry.url.empty() && !has_blank_or_control(entry.url));
        FUZZ_CHECK(entry.url.front() != '#');
        if (entry.file) {
            FUZZ_CHECK(!entry.file->empty() && !has_blank_or_control(*entry.file));
            FUZZ_CHECK(*entry.file != "-");
        }
    }
    last = 0;
    for (const auto& problem : parsed.problems) {
        FUZZ_CHECK(problem.line > last && problem.line <= lines);
        last = problem.line;
        FUZZ_CHECK(!problem.message.empty());
        for (const auto& entry : parsed.entries)
            FUZZ_CHECK(entry.line != problem.line);
    }
    return 0;
}
