#pragma once
// The sidecar NAME.part.meta: what --continue needs to resume NAME.part safely. The range
// request carries If-Range with the validator recorded here, so a resource that changed in
// the meantime is sent whole instead of being spliced onto stale bytes.
#include <cstdint>
#include <nettool/error.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace nettool {

struct PartMeta {
    std::string url;
    std::string etag;          // strong ETag as sent, with quotes; empty when none
    std::string last_modified; // Last-Modified as sent; empty when none
    std::optional<std::uint64_t> content_length; // of the whole resource, when known
    std::int64_t started = 0;                    // unix time the download began
};

std::string part_meta_path(const std::string& part_path);

// Written atomically (temp file + rename), mode 0600.
Status write_part_meta(const std::string& part_path, const PartMeta& meta);

// nullopt when there is no sidecar, or it cannot be parsed (then resuming has no validator
// and starts over).
std::optional<PartMeta> read_part_meta(const std::string& part_path);

// The sidecar's text (a JSON object); nullopt when it cannot be parsed.
std::optional<PartMeta> parse_part_meta(std::string_view text);
// The text (a JSON object and a newline) that parse_part_meta() reads back as `meta`.
std::string format_part_meta(const PartMeta& meta);

void remove_part_meta(const std::string& part_path);

} // namespace nettool
