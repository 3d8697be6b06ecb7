#include "util/file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/clean.hpp>
#include <nettool/part_meta.hpp>
#include <nettool/temp_area.hpp>
#include <nettool/unique_fd.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

enum class Found { missing, ours, symlink, other };

struct FileCheck {
    Found found = Found::missing;
    std::uint64_t size = 0;
};

// Ours means: a regular file directly in the area, reached without following a symlink, that
// is still the very file retrieve created (FileIdentity).
FileCheck check_file(int area, const std::string& name, const FileIdentity& identity) {
    struct statx stx {};
    if (::statx(area, name.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) !=
        0) {
        return {};
    }
    if (S_ISLNK(stx.stx_mode)) return {Found::symlink, 0};
    if (!S_ISREG(stx.stx_mode) || !is_same_file(stx, identity)) return {Found::other, 0};
    return {Found::ours, stx.stx_size};
}

// A download is alive while its process holds the flock() AtomicOutput took on the .part
// (which becomes the final file by rename, so either name may lead to it). Only a file already
// known to be ours is opened: opening whatever else sits there (a FIFO, a device) could block
// or have effects.
bool download_alive(int area, const std::string& name, const FileIdentity& identity) {
    for (const std::string& candidate : {name + ".part", name}) {
        if (check_file(area, candidate, identity).found != Found::ours) continue;
        UniqueFd fd(::openat(area, candidate.c_str(),
                             O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
        if (!fd) continue;
        struct statx stx {};
        if (::statx(fd.get(), "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0 ||
            !S_ISREG(stx.stx_mode) || !is_same_file(stx, identity)) {
            continue;
        }
        return ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    }
    return false;
}

std::string skip_reason(Found found) {
    return found == Found::symlink
               ? "it is now a symbolic link; left alone"
               : "it now holds another file, not the one retrieve saved; left alone";
}

// Why NAME.part.meta may not be removed with its download; empty when it may.
std::string sidecar_doubt(int area, const std::string& meta_name, const std::string& shown,
                          const FileIdentity& identity) {
    struct stat st {};
    if (::fstatat(area, meta_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
    if (S_ISLNK(st.st_mode)) return "it is a symbolic link; left alone";
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid())
        return "it is not a regular file of yours; left alone";
    const std::string part_name = meta_name.substr(0, meta_name.size() - 5); // drop ".meta"
    const auto meta = read_part_meta(area, part_name, shown);
    if (!meta) return "it cannot be read as a sidecar; left alone";
    if (!meta->part.known()) return "it does not record which download it belongs to; left alone";
    if (!meta->part.matches(identity)) return "it belongs to another download; left alone";
    return {};
}

class Cleaner {
  public:
    Cleaner(const TempArea& area, const CleanOptions& options, CleanObserver& observer)
        : m_area(area), m_options(options), m_observer(observer) {}

    // Returns true when the entry stays recorded.
    bool process(const RegistryEntry& entry) {
        ++m_summary.entries;
        CleanItem base;
        base.path = entry.path.empty() ? entry.name : entry.path;
        base.url = entry.url;
        base.state = entry.state;
        base.time = entry.time;
        base.pid = entry.pid;
        const std::string name = download_name(entry, m_area.path());
        if (!is_download_name(name)) {
            ++m_summary.foreign;
            ++m_summary.skipped;
            emit(base, CleanAction::skipped,
                 fmt::format("it does not name a file directly inside the temp area {}; {}",
                             m_area.path(),
                             m_options.list_only || m_options.dry_run ? "a clean forgets it"
                                                                      : "forgotten"));
            return false;
        }
        base.path = m_area.path_of(name);
        const FileIdentity identity = entry.identity();
        if (m_options.list_only) return list(name, identity, base);
        if (m_options.older_than) {
            const auto age =
                std::chrono::system_clock::now() -
                std::chrono::system_clock::time_point(std::chrono::seconds(entry.time));
            if (age < *m_options.older_than) {
                emit(base, CleanAction::too_new, "it is newer than --older-than");
                return true;
            }
        }
        if (download_alive(m_area.fd(), name, identity)) {
            ++m_summary.skipped;
            emit(base, CleanAction::skipped,
                 fmt::format("a download is still in progress (pid {}); left alone", entry.pid));
            return true;
        }
        bool keep = m_options.dry_run;
        bool any = false;
        for (const std::string& file : {name, name + ".part"}) {
            const FileCheck check = check_file(m_area.fd(), file, identity);
            if (check.found == Found::missing) continue;
            any = true;
            CleanItem item = base;
            item.path = m_area.path_of(file);
            if (check.found != Found::ours) {
                ++m_summary.skipped;
                emit(item, CleanAction::skipped, skip_reason(check.found));
                continue;
            }
            if (!m_options.dry_run && ::unlinkat(m_area.fd(), file.c_str(), 0) != 0) {
                ++m_summary.skipped;
                keep = true;
                emit(item, CleanAction::skipped,
                     fmt::format("cannot remove it: {}", errno_text(errno)));
                continue;
            }
            ++m_summary.files;
            m_summary.bytes += check.size;
            item.bytes = check.size;
            emit(item, CleanAction::removed, "");
        }
        remove_sidecar(name, identity, base);
        if (!any) emit(base, CleanAction::vanished, "it no longer exists; forgotten");
        return keep;
    }

    const CleanSummary& summary() const { return m_summary; }

  private:
    // NAME.part.meta goes with its download, but only when it says it describes that very
    // .part; anything else under that name is reported and left alone.
    void remove_sidecar(const std::string& name, const FileIdentity& identity, CleanItem item) {
        const std::string meta = part_meta_name(name + ".part");
        item.path = m_area.path_of(meta);
        const std::string doubt =
            sidecar_doubt(m_area.fd(), meta, m_area.path_of(name + ".part"), identity);
        if (!doubt.empty()) {
            ++m_summary.skipped;
            emit(item, CleanAction::skipped, doubt);
            return;
        }
        if (!m_options.dry_run) ::unlinkat(m_area.fd(), meta.c_str(), 0);
    }

    bool list(const std::string& name, const FileIdentity& identity, CleanItem item) {
        for (const std::string& file : {name, name + ".part"}) {
            const FileCheck check = check_file(m_area.fd(), file, identity);
            if (check.found == Found::ours) {
                item.bytes = check.size;
                break;
            }
        }
        item.alive = download_alive(m_area.fd(), name, identity);
        emit(item, CleanAction::listed, "");
        return true;
    }

    void emit(CleanItem item, CleanAction action, std::string reason) {
        item.action = action;
        item.reason = std::move(reason);
        m_observer.on_item(item);
    }

    const TempArea& m_area;
    const CleanOptions& m_options;
    CleanObserver& m_observer;
    CleanSummary m_summary;
};

} // namespace

Result<CleanSummary> clean(const CleanOptions& options, CleanObserver& observer) {
    auto area = TempArea::find(options.area);
    if (!area) return tl::unexpected(area.error());
    if (!*area) return CleanSummary{}; // never used: nothing to clean
    Registry registry(**area,
                      [&observer](const std::string& warning) { observer.on_warning(warning); });
    Cleaner cleaner(**area, options, observer);
    if (options.list_only || options.dry_run) {
        auto snapshot = registry.load();
        if (!snapshot) return tl::unexpected(snapshot.error());
        if (snapshot->damaged_lines > 0) {
            observer.on_warning(
                fmt::format("{} line{} of the registry {} {} damaged and ignored; a clean sets "
                            "the registry aside and keeps the readable entries",
                            snapshot->damaged_lines, snapshot->damaged_lines == 1 ? "" : "s",
                            registry.path(), snapshot->damaged_lines == 1 ? "is" : "are"));
        }
        for (const auto& entry : snapshot->entries)
            cleaner.process(entry);
        return cleaner.summary();
    }
    auto updated = registry.update([&](std::vector<RegistryEntry>& entries) -> Status {
        std::vector<RegistryEntry> kept;
        for (auto& entry : entries) {
            if (cleaner.process(entry)) kept.push_back(std::move(entry));
        }
        entries = std::move(kept);
        return {};
    });
    if (!updated) return tl::unexpected(updated.error());
    return cleaner.summary();
}

} // namespace nettool
