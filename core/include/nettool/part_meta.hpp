#pragma once
// The sidecar NAME.part.meta: what --continue needs to resume NAME.part safely, and what
// `clean` needs to know the sidecar is its download's. It records the URL the bytes came from,
// the validators the server sent (the range request carries If-Range with one, so a resource
// that changed is sent whole instead of being spliced onto stale bytes), the full length, and
// the identity of the .part it describes (a sidecar beside another file is not trusted).
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/file_identity.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

// A byte range of a .part written in segments (retrieve --split): [start, end) of the whole
// resource, of which the first `done` bytes are on disk.
struct PartSegment {
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    std::uint64_t done = 0;
    bool operator==(const PartSegment&) const = default;
};

// Sidecars with segments are version 2 (older ones, version 1, have no "version" key); a
// version this build does not know is unreadable, never half understood.
constexpr int k_part_meta_version = 2;
// At most this many segments in a sidecar (--split caps connections far below it).
constexpr std::size_t k_max_part_segments = 256;

struct PartMeta {
    std::string url;
    std::string etag;          // strong ETag as sent, with quotes; empty when none
    std::string last_modified; // Last-Modified as sent; empty when none
    std::optional<std::uint64_t> content_length; // of the whole resource, when known
    std::int64_t started = 0;                    // unix time the download began
    FileIdentity part; // the .part it describes; unknown in sidecars of older versions
    // Empty: the .part holds the first size() bytes (written in order). Otherwise (--split)
    // the .part has holes and these say which bytes it holds: sorted, disjoint, within
    // content_length, which is then known.
    std::vector<PartSegment> segments;
};

// "NAME.part" -> "NAME.part.meta"
std::string part_meta_name(const std::string& part_name);

// Written atomically (temp file + fsync + rename), mode 0600, beside `part_name` in `dir_fd`;
// `shown` is the .part's path for messages. `sync` false leaves the fsyncs out (--no-sync).
Status write_part_meta(int dir_fd, const std::string& part_name, const PartMeta& meta,
                       std::string_view shown, bool sync = true);
// The same by path.
Status write_part_meta(const std::string& part_path, const PartMeta& meta);

// nullopt when there is no sidecar, or it is not a regular file of ours, or it cannot be
// parsed: nothing is then known about where the .part came from.
std::optional<PartMeta> read_part_meta(int dir_fd, const std::string& part_name,
                                       std::string_view shown);
std::optional<PartMeta> read_part_meta(const std::string& part_path);

// The sidecar's text (a JSON object); nullopt when it cannot be parsed.
std::optional<PartMeta> parse_part_meta(std::string_view text);
// The text (a JSON object and a newline) that parse_part_meta() reads back as `meta`.
std::string format_part_meta(const PartMeta& meta);

} // namespace nettool
