#pragma once
// `clean` (urlcleanup): removes the downloads `retrieve` recorded in the temp area, and their
// .part and .part.meta leftovers, and nothing else. It works through the descriptor of the
// area it opened itself (fstatat, openat, unlinkat; never a path from the registry), accepts
// only entries naming a file directly inside the area (others are reported and forgotten),
// and touches a file or a sidecar only while it is still the very file retrieve recorded
// (device, inode, birth time). A name that now holds another file, a symlink, or a download
// whose process still holds its lock is left alone and reported. The whole pass runs under
// the registry's exclusive lock, so entries that other processes add meanwhile wait and are
// never lost; a damaged registry is set aside with a warning, never emptied.
#include <chrono>
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/registry.hpp>
#include <optional>
#include <string>

namespace nettool {

struct CleanOptions {
    std::string area;       // the temp area directory (default_temp_area_path())
    bool list_only = false; // report entries, change nothing
    bool dry_run = false;   // report what would be removed, change nothing
    std::optional<std::chrono::milliseconds> older_than; // only downloads started before now - this
};

enum class CleanAction {
    removed,  // the file (and leftovers) are gone (or would be, with dry_run)
    skipped,  // left alone for a reason worth telling the user
    too_new,  // left alone because of older_than (quiet detail)
    vanished, // the file was already gone; the entry is forgotten (quiet detail)
    listed,   // list_only
};

struct CleanItem {
    std::string path;
    std::string url;
    std::uint64_t bytes = 0; // of what was (or would be) removed; for listed: the size now
    CleanAction action = CleanAction::listed;
    std::string reason; // why skipped, or empty
    DownloadState state = DownloadState::complete;
    bool alive = false; // listed: a process is still writing it
    std::int64_t time = 0;
    int pid = 0;
};

class CleanObserver {
  public:
    virtual ~CleanObserver() = default;
    virtual void on_item(const CleanItem& item) = 0;
    // Something the user must know that is not about one entry (a damaged registry).
    virtual void on_warning(const std::string& message) = 0;
};

struct CleanSummary {
    std::uint64_t files = 0; // files removed (download files and .part leftovers)
    std::uint64_t bytes = 0;
    std::uint64_t entries = 0; // registry entries seen
    std::uint64_t foreign = 0; // entries naming nothing directly inside the area (forgotten)
    std::uint64_t skipped = 0;
};

Result<CleanSummary> clean(const CleanOptions& options, CleanObserver& observer);

} // namespace nettool
