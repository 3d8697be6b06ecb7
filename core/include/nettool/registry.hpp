#pragma once
// The record of what `retrieve` saved into the temp area, so `clean` removes exactly those
// files and nothing else (nettool-clean(1)). JSON Lines in TempArea::registry_path(); every
// read-modify-write holds flock(LOCK_EX) on a separate lock file (the registry itself is
// replaced by rename, so it cannot carry the lock) and rewrites the file atomically: an entry
// written by one process is never lost to another's rewrite.
#include <cstdint>
#include <functional>
#include <nettool/error.hpp>
#include <nettool/temp_area.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

enum class DownloadState { in_progress, complete };

struct RegistryEntry {
    std::string path; // the final name; the download is written as path + ".part" first
    std::uint64_t device = 0;
    std::uint64_t inode = 0; // of the .part, which rename() carries over to the final name
    // Birth time (statx btime, ns) where the file system has one: inode numbers are reused,
    // so a file the user created after deleting ours may carry the same device and inode.
    std::int64_t birth_ns = 0;
    std::string url;
    std::int64_t time = 0; // unix seconds when the download started
    DownloadState state = DownloadState::in_progress;
    int pid = 0;
};

// One line of the registry (a JSON object); nullopt when it is damaged or incomplete.
std::optional<RegistryEntry> parse_registry_line(std::string_view line);
// The line (without its newline) that parse_registry_line() reads back as `entry`.
std::string format_registry_line(const RegistryEntry& entry);

// The birth time of an open file in ns since the epoch, or 0 when the file system has none.
std::int64_t birth_time_ns(int fd);

class Registry {
  public:
    explicit Registry(const TempArea& area)
        : m_path(area.registry_path()), m_lock_path(area.registry_lock_path()) {}

    Status add(const RegistryEntry& entry);
    // Marks the entry for `path` complete (after the rename).
    Status mark_complete(const std::string& path);
    // A consistent snapshot (shared lock).
    Result<std::vector<RegistryEntry>> load() const;
    // Runs `edit` on the entries under the exclusive lock and writes the result back
    // atomically (temp file + fsync + rename). When `edit` fails nothing is written.
    Status update(const std::function<Status(std::vector<RegistryEntry>&)>& edit);

    const std::string& path() const { return m_path; }

  private:
    std::string m_path;
    std::string m_lock_path;
};

} // namespace nettool
