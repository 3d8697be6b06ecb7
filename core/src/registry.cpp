#include "util/file.hpp"
#include "util/json_integer.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits>
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

} // namespace

std::string format_registry_line(const RegistryEntry& e) {
    const nlohmann::json j = {
        {"path", e.path},
        {"device", e.device},
        {"inode", e.inode},
        {"birth_ns", e.birth_ns},
        {"url", e.url},
        {"time", e.time},
        {"state", e.state == DownloadState::complete ? "complete" : "in_progress"},
        {"pid", e.pid}};
    return j.dump();
}

std::optional<RegistryEntry> parse_registry_line(std::string_view line) {
    using detail::json_integer;
    using detail::JsonInteger;
    // A start time in seconds that nanosecond clocks can hold (clean --older-than subtracts it).
    constexpr std::int64_t k_max_time = std::numeric_limits<std::int64_t>::max() / 1'000'000'000;
    try {
        const auto j = nlohmann::json::parse(line);
        RegistryEntry e;
        e.path = j.at("path").get<std::string>();
        e.url = j.value("url", "");
        e.state = j.value("state", "") == "complete" ? DownloadState::complete
                                                     : DownloadState::in_progress;
        // A path with a NUL would reach the file system as a shorter, other path.
        if (e.path.empty() || e.path.find('\0') != std::string::npos) return std::nullopt;
        if (json_integer(j, "device", e.device) != JsonInteger::valid ||
            json_integer(j, "inode", e.inode) != JsonInteger::valid ||
            json_integer(j, "birth_ns", e.birth_ns) == JsonInteger::invalid ||
            json_integer(j, "time", e.time) == JsonInteger::invalid ||
            json_integer(j, "pid", e.pid) == JsonInteger::invalid || e.time < 0 ||
            e.time > k_max_time) {
            return std::nullopt;
        }
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
        text += format_registry_line(e) + "\n";
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
