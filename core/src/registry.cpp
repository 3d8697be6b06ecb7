#include "file_util.hpp"
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

Result<std::vector<RegistryEntry>> read_entries(const std::string& path) {
    std::vector<RegistryEntry> entries;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return entries;
        return tl::unexpected(io_error("open", path, errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return tl::unexpected(io_error("stat", path, errno));
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
        return fail(ErrorKind::file_io,
                    fmt::format("{} is not a regular file owned by you; remove it", path));
    }
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return tl::unexpected(io_error("read", path, errno));
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) {
            if (auto entry = parse_registry_line(std::string_view(text).substr(start, end - start)))
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
    // Under the exclusive lock only one writer exists, so a fixed temp name is safe.
    const std::string temp = path + ".tmp";
    ::unlink(temp.c_str());
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return tl::unexpected(io_error("create", temp, errno));
    if (const int err = detail::write_all(fd.get(), text.data(), text.size()); err != 0) {
        ::unlink(temp.c_str());
        return tl::unexpected(io_error("write to", temp, err));
    }
    if (::fsync(fd.get()) != 0) {
        const int err = errno;
        ::unlink(temp.c_str());
        return tl::unexpected(io_error("sync", temp, err));
    }
    fd.reset();
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp.c_str());
        return tl::unexpected(io_error("rename " + temp + " to", path, err));
    }
    return {};
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
