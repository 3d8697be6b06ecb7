// Fuzz target: the NAME.part.meta sidecar that --continue trusts (part_meta.hpp). Whatever
// parses writes back as text that parses to the same validators and segment map, and a
// segment map that parses is sorted, disjoint and within the length.
#include "fuzz_check.hpp"

#include <cstdint>
#include <nettool/part_meta.hpp>

using namespace nettool;
using namespace nettool::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto meta = parse_part_meta(as_text(data, size));
    if (!meta) return 0;
    const std::string text = format_part_meta(*meta);
    FUZZ_CHECK(text.find('\n') == text.size() - 1);
    const auto again = parse_part_meta(text);
    FUZZ_CHECK(again);
    FUZZ_CHECK(again->url == meta->url && again->etag == meta->etag &&
               again->last_modified == meta->last_modified &&
               again->content_length == meta->content_length && again->started == meta->started &&
               again->part.device == meta->part.device && again->part.inode == meta->part.inode &&
               again->part.birth_ns == meta->part.birth_ns && again->segments == meta->segments);
    std::uint64_t previous_end = 0;
    for (const auto& segment : meta->segments) {
        FUZZ_CHECK(meta->content_length && segment.start >= previous_end &&
                   segment.start < segment.end && segment.end <= *meta->content_length &&
                   segment.done <= segment.end - segment.start);
        previous_end = segment.end;
    }
    return 0;
}
