#include "util/file.hpp"
#include "util/json_integer.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/part_meta.hpp>
#include <nettool/unique_fd.hpp>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {

std::string part_meta_path(const std::string& part_path) {
    return part_path + ".meta";
}

std::string format_part_meta(const PartMeta& meta) {
    nlohmann::json j = {{"url", meta.url},
                        {"etag", meta.etag},
                        {"last_modified", meta.last_modified},
                        {"started", meta.started}};
    j["content_length"] =
        meta.content_length ? nlohmann::json(*meta.content_length) : nlohmann::json();
    return j.dump() + "\n";
}

Status write_part_meta(const std::string& part_path, const PartMeta& meta) {
    return util::write_file_atomically(part_meta_path(part_path), format_part_meta(meta));
}

std::optional<PartMeta> read_part_meta(const std::string& part_path) {
    // A damaged or foreign sidecar only means there is no validator: resuming starts over.
    auto text = util::read_own_file(part_meta_path(part_path), 64 * 1024);
    if (!text || !*text) return std::nullopt;
    return parse_part_meta(**text);
}

std::optional<PartMeta> parse_part_meta(std::string_view text) {
    try {
        const auto j = nlohmann::json::parse(text);
        PartMeta meta;
        meta.url = j.value("url", "");
        meta.etag = j.value("etag", "");
        meta.last_modified = j.value("last_modified", "");
        if (detail::json_integer(j, "started", meta.started) == detail::JsonInteger::invalid)
            return std::nullopt;
        if (j.contains("content_length") && j["content_length"].is_number_unsigned()) {
            meta.content_length = j["content_length"].get<std::uint64_t>();
        }
        return meta;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

void remove_part_meta(const std::string& part_path) {
    ::unlink(part_meta_path(part_path).c_str());
}

} // namespace nettool
