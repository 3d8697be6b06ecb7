#include "util/file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/registry.hpp>
#include <nettool/unique_fd.hpp>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

Error io_error(std::string_view what, const std::string& path, int err) {
    return Error{ErrorKind::file_io, fmt::format("{} {}: {}", what, path, errno_text(err))};
}

Result<UniqueFd> take_lock(const std::string& lock_path, int operation) {
    UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return tl::unexpected(io_error("open", lock_path, errno));
    while (::flock(fd.get(), operation) != 0) {
        if (errno != EINTR) return tl::unexpected(io_error("lock", lock_path, errno));
    }
    return fd;
}

nlohmann::json to_json(const RegistryEntry& e) {
    return {{"path", e.path},
            {"device", e.device},
            {"inode", e.inode},
            {"birth_ns", e.birth_ns},
            {"url", e.url},
            {"time", e.time},
            {"state", e.state == DownloadState::complete ? "complete" : "in_progress"},
            {"pid", e.pid}};
}

} // namespace

std::optional<RegistryEntry> parse_registry_line(std::string_view line) {
    try {
        const auto j = nlohmann::json::parse(line);
        RegistryEntry e;
        e.path = j.at("path").get<std::string>();
        e.device = j.at("device").get<std::uint64_t>();
        e.inode = j.at("inode").get<std::uint64_t>();
        e.birth_ns = j.value("birth_ns", std::int64_t{0});
        e.url = j.value("url", "");
        e.time = j.value("time", std::int64_t{0});
        e.state = j.value("state", "") == "complete" ? DownloadState::complete
                                                     : DownloadState::in_progress;
        e.pid = j.value("pid", 0);
        if (e.path.empty()) return std::nullopt;
        return e;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt; // a damaged line: it records nothing we could act on safely
    }
}

namespace {

// The registry is small (one line per download); a huge one is not ours.
constexpr std::size_t k_max_registry_size = 64 * 1024 * 1024;

Result<std::vector<RegistryEntry>> read_entries(const std::string& path) {
    std::vector<RegistryEntry> entries;
    auto text = util::read_own_file(path, k_max_registry_size);
    if (!text) return tl::unexpected(text.error());
    if (!*text) return entries;
    const std::string_view all(**text);
    std::size_t start = 0;
    while (start < all.size()) {
        auto end = all.find('\n', start);
        if (end == std::string_view::npos) end = all.size();
        if (end > start) {
            if (auto entry = parse_registry_line(all.substr(start, end - start)))
                entries.push_back(std::move(*entry));
        }
        start = end + 1;
    }
    return entries;
}

Status write_entries(const std::string& path, const std::vector<RegistryEntry>& entries) {
    std::string text;
    for (const auto& e : entries)
        text += to_json(e).dump() + "\n";
    return util::write_file_atomically(path, text);
}

} // namespace

std::int64_t birth_time_ns(int fd) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) != 0 ||
        (stx.stx_mask & STATX_BTIME) == 0) {
        return 0;
    }
    return static_cast<std::int64_t>(stx.stx_btime.tv_sec) * 1'000'000'000 + stx.stx_btime.tv_nsec;
}

Status Registry::update(const std::function<Status(std::vector<RegistryEntry>&)>& edit) {
    auto lock = take_lock(m_lock_path, LOCK_EX);
    if (!lock) return tl::unexpected(lock.error());
    auto entries = read_entries(m_path);
    if (!entries) return tl::unexpected(entries.error());
    if (auto edited = edit(*entries); !edited) return edited;
    return write_entries(m_path, *entries);
}

Status Registry::add(const RegistryEntry& entry) {
    return update([&entry](std::vector<RegistryEntry>& entries) -> Status {
        entries.push_back(entry);
        return {};
    });
}

Status Registry::mark_complete(const std::string& path) {
    return update([&path](std::vector<RegistryEntry>& entries) -> Status {
        for (auto& e : entries) {
            if (e.path == path) e.state = DownloadState::complete;
        }
        return {};
    });
}

Result<std::vector<RegistryEntry>> Registry::load() const {
    auto lock = take_lock(m_lock_path, LOCK_SH);
    if (!lock) return tl::unexpected(lock.error());
    return read_entries(m_path);
}

} // namespace nettool
