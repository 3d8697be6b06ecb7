#pragma once
// The record of what `retrieve` saved into the temp area, so `clean` removes exactly those
// files and nothing else (nettool-clean(1)). JSON Lines in the area's .registry.jsonl, reached
// through the area's descriptor; every read-modify-write holds flock(LOCK_EX) on a separate
// lock file (the registry itself is replaced by rename, so it cannot carry the lock) and
// rewrites the file atomically: an entry written by one process is never lost to another's
// rewrite. A registry with damaged lines is never silently rewritten without them: the first
// rewrite copies it aside under a dated name and says so.
#include <cstdint>
#include <functional>
#include <nettool/error.hpp>
#include <nettool/file_identity.hpp>
#include <nettool/temp_area.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

enum class DownloadState { in_progress, complete };

struct RegistryEntry {
    // The download's name directly inside the area (NAME; NAME.part while it runs). Registries
    // written by older versions have only `path`.
    std::string name;
    std::string path; // the area's path + "/" + name when it was recorded (shown, not trusted)
    std::uint64_t device = 0;
    std::uint64_t inode = 0; // of the .part, which rename() carries over to the final name
    // Birth time (statx btime, ns) where the file system has one: inode numbers are reused,
    // so a file the user created after deleting ours may carry the same device and inode.
    std::int64_t birth_ns = 0;
    std::string url;
    std::int64_t time = 0; // unix seconds when the download started
    DownloadState state = DownloadState::in_progress;
    int pid = 0;

    FileIdentity identity() const { return {device, inode, birth_ns}; }

    // The entry for a download starting now in `out` (a temp-area output), by this process.
    static RegistryEntry for_download(const AtomicOutput& out, std::string url,
                                      std::int64_t started);
};

// One line of the registry (a JSON object); nullopt when it is damaged or incomplete.
std::optional<RegistryEntry> parse_registry_line(std::string_view line);
// The line (without its newline) that parse_registry_line() reads back as `entry`.
std::string format_registry_line(const RegistryEntry& entry);

// The name an entry gives its download inside the area at `area_path`: its `name`, or for an
// older entry the last component of a `path` that lies directly in the area. Empty when the
// entry names nothing there; the caller checks the result with is_download_name().
std::string download_name(const RegistryEntry& entry, const std::string& area_path);

struct RegistrySnapshot {
    std::vector<RegistryEntry> entries;
    std::size_t damaged_lines = 0; // lines that are not entries (ignored)
};

class Registry {
  public:
    // `warn` hears about a damaged registry being set aside (one sentence).
    explicit Registry(const TempArea& area, std::function<void(const std::string&)> warn = {});

    // Records `entry`, then runs `publish` while still holding the lock (AtomicOutput::publish
    // gives the .part its name): a concurrent `clean` sees either neither or both. When
    // `publish` fails the entry is taken out again and its error returned.
    Status add(const RegistryEntry& entry, const std::function<Status()>& publish = {});
    // Marks the entry for `name` complete (after the rename).
    Status mark_complete(const std::string& name);
    // Forgets the entry for `name` (a failed download removed its own file).
    Status forget(const std::string& name);
    // A consistent snapshot (shared lock); changes nothing.
    Result<RegistrySnapshot> load() const;
    // Runs `edit` on the entries under the exclusive lock and writes the result back
    // atomically (temp file + fsync + rename). When `edit` fails nothing is written.
    Status update(const std::function<Status(std::vector<RegistryEntry>&)>& edit);

    const std::string& path() const { return m_path; }

  private:
    // The exclusive lock and the entries read under it (a damaged registry already set aside).
    struct Locked {
        UniqueFd lock;
        std::vector<RegistryEntry> entries;
    };
    Result<Locked> lock_for_change();
    Result<UniqueFd> take_lock(int operation) const;
    Result<RegistrySnapshot> read() const;
    Status write(const std::vector<RegistryEntry>& entries);
    Status set_aside(std::size_t damaged_lines, std::size_t kept);

    int m_dir;
    std::string m_path;
    std::string m_lock_path;
    std::string m_area_path;
    std::function<void(const std::string&)> m_warn;
};

} // namespace nettool
