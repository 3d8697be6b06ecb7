#include "file_util.hpp"
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
    const std::string text = format_part_meta(meta);
    const std::string path = part_meta_path(part_path);
    const std::string temp = path + ".tmp";
    ::unlink(temp.c_str());
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return fail(ErrorKind::file_io, fmt::format("create {}: {}", temp, errno_text(errno)));
    if (const int err = detail::write_all(fd.get(), text.data(), text.size()); err != 0) {
        ::unlink(temp.c_str());
        return fail(ErrorKind::file_io, fmt::format("write to {}: {}", temp, errno_text(err)));
    }
    fd.reset();
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp.c_str());
        return fail(ErrorKind::file_io,
                    fmt::format("rename {} to {}: {}", temp, path, errno_text(err)));
    }
    return {};
}

std::optional<PartMeta> read_part_meta(const std::string& part_path) {
    const std::string path = part_meta_path(part_path);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return std::nullopt;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
        st.st_size > 64 * 1024) {
        return std::nullopt;
    }
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;
        got += static_cast<std::size_t>(n);
    }
    return parse_part_meta(text);
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
