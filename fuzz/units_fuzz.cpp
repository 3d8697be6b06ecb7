// Fuzz target: durations, sizes (units.hpp) and --checksum values (digest.hpp). The same text
// goes to each parser; a value one accepts, written plainly, parses to the same value.
#include "fuzz_check.hpp"

#include <cstdint>
#include <fmt/format.h>
#include <nettool/digest.hpp>
#include <nettool/units.hpp>

using namespace nettool;
using namespace nettool::fuzz;

namespace {

bool ends_in_number(std::string_view text) {
    return !text.empty() && ((text.back() >= '0' && text.back() <= '9') || text.back() == '.');
}

void check_duration(std::string_view text) {
    const auto duration = parse_duration(text);
    if (!duration) {
        FUZZ_CHECK(duration.error().kind == ErrorKind::usage);
        return;
    }
    FUZZ_CHECK(duration->count() >= 0);
    const auto again = parse_duration(fmt::format("{}ms", duration->count()));
    FUZZ_CHECK(again && *again == *duration);
    if (ends_in_number(text)) { // a bare number is seconds
        const auto seconds = parse_duration(std::string(text) + "s");
        FUZZ_CHECK(seconds && *seconds == *duration);
    }
}

void check_size(std::string_view text) {
    const auto size = parse_size(text);
    if (!size) {
        FUZZ_CHECK(size.error().kind == ErrorKind::usage);
        return;
    }
    const auto again = parse_size(fmt::format("{}", *size));
    FUZZ_CHECK(again && *again == *size);
    if (ends_in_number(text)) { // a bare number is bytes
        const auto bytes = parse_size(std::string(text) + "B");
        FUZZ_CHECK(bytes && *bytes == *size);
    }
}

void check_checksum(std::string_view text) {
    const auto spec = parse_checksum(text);
    if (!spec) {
        FUZZ_CHECK(spec.error().kind == ErrorKind::usage);
        return;
    }
    FUZZ_CHECK(spec->hex.find_first_not_of("0123456789abcdef") == std::string::npos);
    // The length the parser demands is the length the digest produces.
    const auto digest = Digest::create(spec->algorithm);
    FUZZ_CHECK(digest);
    FUZZ_CHECK(digest->hex().size() == spec->hex.size());
    const auto again = parse_checksum(spec->algorithm + ":" + spec->hex);
    FUZZ_CHECK(again && again->algorithm == spec->algorithm && again->hex == spec->hex);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = as_text(data, size);
    check_duration(text);
    check_size(text);
    check_checksum(text);
    return 0;
}
