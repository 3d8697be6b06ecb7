#include "util/file.hpp"
#include "util/json_integer.hpp"

#include <cerrno>
#include <fcntl.h>
#include <nettool/part_meta.hpp>
#include <nettool/unique_fd.hpp>
#include <nlohmann/json.hpp>

namespace nettool {
namespace {

constexpr std::size_t k_max_meta_size = 64 * 1024;

std::optional<std::uint64_t> unsigned_value(const nlohmann::json& j) {
    if (!j.is_number_unsigned()) return std::nullopt;
    return j.get<std::uint64_t>();
}

// "segments": [[start, end, done], ...], sorted, disjoint, non-empty, within the length.
bool parse_segments(const nlohmann::json& j, const std::optional<std::uint64_t>& length,
                    std::vector<PartSegment>& out) {
    if (!j.is_array() || j.empty() || j.size() > k_max_part_segments || !length) return false;
    std::uint64_t previous_end = 0;
    for (const auto& item : j) {
        if (!item.is_array() || item.size() != 3) return false;
        const auto start = unsigned_value(item[0]);
        const auto end = unsigned_value(item[1]);
        const auto done = unsigned_value(item[2]);
        if (!start || !end || !done || *start >= *end || *end > *length || *start < previous_end ||
            *done > *end - *start)
            return false;
        previous_end = *end;
        out.push_back({*start, *end, *done});
    }
    return true;
}

} // namespace

std::string part_meta_name(const std::string& part_name) {
    return part_name + ".meta";
}

std::string format_part_meta(const PartMeta& meta) {
    nlohmann::json j = {{"url", meta.url},
                        {"etag", meta.etag},
                        {"last_modified", meta.last_modified},
                        {"started", meta.started},
                        {"device", meta.part.device},
                        {"inode", meta.part.inode},
                        {"birth_ns", meta.part.birth_ns}};
    j["content_length"] =
        meta.content_length ? nlohmann::json(*meta.content_length) : nlohmann::json();
    if (!meta.segments.empty()) {
        j["version"] = k_part_meta_version;
        auto& segments = j["segments"] = nlohmann::json::array();
        for (const auto& segment : meta.segments)
            segments.push_back({segment.start, segment.end, segment.done});
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Status write_part_meta(int dir_fd, const std::string& part_name, const PartMeta& meta,
                       std::string_view shown, bool sync) {
    return util::write_file_atomically(dir_fd, part_meta_name(part_name), format_part_meta(meta),
                                       part_meta_name(std::string(shown)), sync);
}

Status write_part_meta(const std::string& part_path, const PartMeta& meta) {
    const std::string dir = util::parent_directory(part_path);
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) {
        const int err = errno;
        return fail_errno(ErrorKind::file_io, err,
                          "cannot open the directory " + dir + ": " + errno_text(err));
    }
    return write_part_meta(dir_fd.get(), util::base_name(part_path), meta, part_path);
}

std::optional<PartMeta> read_part_meta(int dir_fd, const std::string& part_name,
                                       std::string_view shown) {
    // A damaged or foreign sidecar only means there is no validator: resuming starts over.
    auto text = util::read_own_file(dir_fd, part_meta_name(part_name), k_max_meta_size,
                                    part_meta_name(std::string(shown)));
    if (!text || !*text) return std::nullopt;
    return parse_part_meta(**text);
}

std::optional<PartMeta> read_part_meta(const std::string& part_path) {
    auto text = util::read_own_file(part_meta_name(part_path), k_max_meta_size);
    if (!text || !*text) return std::nullopt;
    return parse_part_meta(**text);
}

std::optional<PartMeta> parse_part_meta(std::string_view text) {
    using detail::json_integer;
    using detail::JsonInteger;
    try {
        const auto j = nlohmann::json::parse(text);
        if (!j.is_object()) return std::nullopt;
        PartMeta meta;
        meta.url = j.value("url", "");
        meta.etag = j.value("etag", "");
        meta.last_modified = j.value("last_modified", "");
        // Numbers must be integers in range: a forged float would convert with undefined
        // behaviour (found by fuzzing).
        if (json_integer(j, "started", meta.started) == JsonInteger::invalid ||
            json_integer(j, "device", meta.part.device) == JsonInteger::invalid ||
            json_integer(j, "inode", meta.part.inode) == JsonInteger::invalid ||
            json_integer(j, "birth_ns", meta.part.birth_ns) == JsonInteger::invalid) {
            return std::nullopt;
        }
        if (j.contains("content_length") && j["content_length"].is_number_unsigned()) {
            meta.content_length = j["content_length"].get<std::uint64_t>();
        }
        int version = 1;
        if (json_integer(j, "version", version) == JsonInteger::invalid || version < 1 ||
            version > k_part_meta_version)
            return std::nullopt;
        if (j.contains("segments") &&
            !parse_segments(j["segments"], meta.content_length, meta.segments))
            return std::nullopt;
        return meta;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

} // namespace nettool
