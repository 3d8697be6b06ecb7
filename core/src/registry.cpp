#include "util/file.hpp"
#include "util/json_integer.hpp"

#include <cerrno>
#include <ctime>
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

constexpr const char* k_registry_name = ".registry.jsonl";
constexpr const char* k_lock_name = ".registry.lock";
// The registry is small (one line per download); a huge one is not ours.
constexpr std::size_t k_max_registry_size = 64 * 1024 * 1024;

tl::unexpected<Error> io_error(std::string_view what, const std::string& path, int err) {
    return fail_errno(ErrorKind::file_io, err,
                      fmt::format("{} {}: {}", what, path, errno_text(err)));
}

// "20260131T120000Z"
std::string utc_stamp() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
    return text;
}

} // namespace

std::string format_registry_line(const RegistryEntry& e) {
    const nlohmann::json j = {
        {"name", e.name},
        {"path", e.path},
        {"device", e.device},
        {"inode", e.inode},
        {"birth_ns", e.birth_ns},
        {"url", e.url},
        {"time", e.time},
        {"state", e.state == DownloadState::complete ? "complete" : "in_progress"},
        {"pid", e.pid}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<RegistryEntry> parse_registry_line(std::string_view line) {
    using detail::json_integer;
    using detail::JsonInteger;
    // A start time in seconds that nanosecond clocks can hold (clean --older-than subtracts it).
    constexpr std::int64_t k_max_time = std::numeric_limits<std::int64_t>::max() / 1'000'000'000;
    try {
        const auto j = nlohmann::json::parse(line);
        if (!j.is_object()) return std::nullopt;
        RegistryEntry e;
        e.name = j.value("name", "");
        e.path = j.value("path", "");
        e.url = j.value("url", "");
        e.state = j.value("state", "") == "complete" ? DownloadState::complete
                                                     : DownloadState::in_progress;
        // A name or path with a NUL would reach the file system as a shorter, other one.
        if (e.name.empty() && e.path.empty()) return std::nullopt;
        if (e.name.find('\0') != std::string::npos || e.path.find('\0') != std::string::npos)
            return std::nullopt;
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

std::string download_name(const RegistryEntry& entry, const std::string& area_path) {
    if (!entry.name.empty()) return entry.name;
    // Older versions joined the area as given: "/tmp/a/" + "/" + name.
    std::string parent = util::parent_directory(entry.path);
    while (parent.size() > 1 && parent.back() == '/')
        parent.pop_back();
    if (parent != area_path) return {};
    return util::base_name(entry.path);
}

RegistryEntry RegistryEntry::for_download(const AtomicOutput& out, std::string url,
                                          std::int64_t started) {
    RegistryEntry entry;
    entry.name = out.name();
    entry.path = out.path();
    entry.device = out.identity().device;
    entry.inode = out.identity().inode;
    entry.birth_ns = out.identity().birth_ns;
    entry.url = std::move(url);
    entry.time = started;
    entry.state = DownloadState::in_progress;
    entry.pid = static_cast<int>(::getpid());
    return entry;
}

Registry::Registry(const TempArea& area, std::function<void(const std::string&)> warn)
    : m_dir(area.fd()), m_path(area.path_of(k_registry_name)),
      m_lock_path(area.path_of(k_lock_name)), m_area_path(area.path()), m_warn(std::move(warn)) {}

Result<UniqueFd> Registry::take_lock(int operation) const {
    auto fd =
        util::open_own_file(m_dir, k_lock_name, O_RDWR | O_CREAT | O_NONBLOCK, 0600, m_lock_path);
    if (!fd) return fd;
    while (::flock(fd->get(), operation) != 0) {
        if (errno != EINTR) return io_error("lock", m_lock_path, errno);
    }
    return fd;
}

Result<Registry::Locked> Registry::lock_for_change() {
    auto lock = take_lock(LOCK_EX);
    if (!lock) return tl::unexpected(lock.error());
    auto snapshot = read();
    if (!snapshot) return tl::unexpected(snapshot.error());
    if (snapshot->damaged_lines > 0) {
        if (auto aside = set_aside(snapshot->damaged_lines, snapshot->entries.size()); !aside)
            return tl::unexpected(aside.error());
    }
    return Locked{std::move(*lock), std::move(snapshot->entries)};
}

Result<RegistrySnapshot> Registry::read() const {
    RegistrySnapshot snapshot;
    auto text = util::read_own_file(m_dir, k_registry_name, k_max_registry_size, m_path);
    if (!text) return tl::unexpected(text.error());
    if (!*text) return snapshot;
    const std::string_view all(**text);
    std::size_t start = 0;
    while (start < all.size()) {
        auto end = all.find('\n', start);
        if (end == std::string_view::npos) end = all.size();
        if (end > start) {
            if (auto entry = parse_registry_line(all.substr(start, end - start)))
                snapshot.entries.push_back(std::move(*entry));
            else
                ++snapshot.damaged_lines;
        }
        start = end + 1;
    }
    return snapshot;
}

Status Registry::write(const std::vector<RegistryEntry>& entries) {
    std::string text;
    for (const auto& e : entries)
        text += format_registry_line(e) + "\n";
    return util::write_file_atomically(m_dir, k_registry_name, text, m_path);
}

// A registry with damaged lines is copied aside whole before the first rewrite would drop
// them: whatever recorded those downloads can be read there, and nothing is lost silently.
Status Registry::set_aside(std::size_t damaged_lines, std::size_t kept) {
    auto text = util::read_own_file(m_dir, k_registry_name, k_max_registry_size, m_path);
    if (!text) return tl::unexpected(text.error());
    const std::string stem = fmt::format("{}.damaged-{}", k_registry_name, utc_stamp());
    std::string name = stem;
    for (int n = 2; n < 100; ++n) {
        struct stat st {};
        if (::fstatat(m_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) break;
        name = fmt::format("{}-{}", stem, n);
    }
    const std::string aside = util::parent_directory(m_path) + "/" + name;
    if (auto copied = util::write_file_atomically(m_dir, name, text->value_or(""), aside);
        !copied) {
        return copied;
    }
    if (m_warn) {
        m_warn(fmt::format("the registry {} had {} damaged line{}; it was set aside as {} and its "
                           "{} readable entr{} kept; look at it, then remove it",
                           m_path, damaged_lines, damaged_lines == 1 ? "" : "s", aside, kept,
                           kept == 1 ? "y is" : "ies are"));
    }
    return {};
}

Status Registry::update(const std::function<Status(std::vector<RegistryEntry>&)>& edit) {
    auto locked = lock_for_change();
    if (!locked) return tl::unexpected(locked.error());
    if (auto edited = edit(locked->entries); !edited) return edited;
    return write(locked->entries);
}

Status Registry::add(const RegistryEntry& entry, const std::function<Status()>& publish) {
    auto locked = lock_for_change();
    if (!locked) return tl::unexpected(locked.error());
    auto& entries = locked->entries;
    entries.push_back(entry);
    if (auto written = write(entries); !written) return written;
    if (!publish) return {};
    auto published = publish();
    if (!published) {
        entries.pop_back();
        (void)write(entries); // failing too leaves an entry without a file: forgotten
    }
    return published;
}

Status Registry::mark_complete(const std::string& name) {
    return update([&name](std::vector<RegistryEntry>& entries) -> Status {
        for (auto& e : entries) {
            if (e.name == name) e.state = DownloadState::complete;
        }
        return {};
    });
}

Status Registry::forget(const std::string& name) {
    return update([&name](std::vector<RegistryEntry>& entries) -> Status {
        std::erase_if(entries, [&name](const RegistryEntry& e) { return e.name == name; });
        return {};
    });
}

Result<RegistrySnapshot> Registry::load() const {
    auto lock = take_lock(LOCK_SH);
    if (!lock) return tl::unexpected(lock.error());
    return read();
}

} // namespace nettool
