#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/clean.hpp>
#include <nettool/part_meta.hpp>
#include <nettool/temp_area.hpp>
#include <nettool/unique_fd.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace nettool {
namespace {

enum class Found { missing, ours, symlink, other };

struct FileCheck {
    Found found = Found::missing;
    std::uint64_t size = 0;
};

// Ours means: still the very file retrieve created (same device, inode and, where the file
// system records one, birth time), a regular file reached without following a symlink.
bool same_file(const struct statx& stx, const RegistryEntry& entry) {
    if (makedev(stx.stx_dev_major, stx.stx_dev_minor) != entry.device || stx.stx_ino != entry.inode)
        return false;
    if (entry.birth_ns == 0 || (stx.stx_mask & STATX_BTIME) == 0) return true;
    return static_cast<std::int64_t>(stx.stx_btime.tv_sec) * 1'000'000'000 +
               stx.stx_btime.tv_nsec ==
           entry.birth_ns;
}

FileCheck check_file(const std::string& path, const RegistryEntry& entry) {
    struct statx stx {};
    if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME,
                &stx) != 0) {
        return {};
    }
    if (S_ISLNK(stx.stx_mode)) return {Found::symlink, 0};
    if (!S_ISREG(stx.stx_mode) || !same_file(stx, entry)) return {Found::other, 0};
    return {Found::ours, stx.stx_size};
}

// A download is alive while its process holds the flock() AtomicOutput took on the .part
// (which becomes the final file by rename, so either name may lead to it).
bool download_alive(const RegistryEntry& entry) {
    for (const std::string& path : {entry.path + ".part", entry.path}) {
        UniqueFd fd(
            ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
        if (!fd) continue;
        struct statx stx {};
        if (::statx(fd.get(), "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0 ||
            !S_ISREG(stx.stx_mode) || !same_file(stx, entry)) {
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

void remove_sidecar(const std::string& part_path) {
    const std::string meta = part_meta_path(part_path);
    struct stat st {};
    if (::lstat(meta.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid()) {
        ::unlink(meta.c_str());
    }
}

class Cleaner {
  public:
    Cleaner(const CleanOptions& options, CleanObserver& observer)
        : m_options(options), m_observer(observer) {}

    // Returns true when the entry stays recorded.
    bool process(const RegistryEntry& entry) {
        ++m_summary.entries;
        CleanItem base;
        base.path = entry.path;
        base.url = entry.url;
        base.state = entry.state;
        base.time = entry.time;
        base.pid = entry.pid;
        if (m_options.list_only) return list(entry, base);
        if (m_options.older_than) {
            const auto age =
                std::chrono::system_clock::now() -
                std::chrono::system_clock::time_point(std::chrono::seconds(entry.time));
            if (age < *m_options.older_than) {
                emit(base, CleanAction::too_new, "it is newer than --older-than");
                return true;
            }
        }
        if (download_alive(entry)) {
            ++m_summary.skipped;
            emit(base, CleanAction::skipped,
                 fmt::format("a download is still in progress (pid {}); left alone", entry.pid));
            return true;
        }
        bool keep = m_options.dry_run;
        bool any = false;
        for (const std::string& path : {entry.path, entry.path + ".part"}) {
            const FileCheck file = check_file(path, entry);
            if (file.found == Found::missing) continue;
            any = true;
            CleanItem item = base;
            item.path = path;
            if (file.found != Found::ours) {
                ++m_summary.skipped;
                emit(item, CleanAction::skipped, skip_reason(file.found));
                continue;
            }
            if (!m_options.dry_run && ::unlink(path.c_str()) != 0) {
                ++m_summary.skipped;
                keep = true;
                emit(item, CleanAction::skipped,
                     fmt::format("cannot remove it: {}", errno_text(errno)));
                continue;
            }
            ++m_summary.files;
            m_summary.bytes += file.size;
            item.bytes = file.size;
            emit(item, CleanAction::removed, "");
        }
        if (!m_options.dry_run) remove_sidecar(entry.path + ".part");
        if (!any) emit(base, CleanAction::vanished, "it no longer exists; forgotten");
        return keep;
    }

    const CleanSummary& summary() const { return m_summary; }

  private:
    bool list(const RegistryEntry& entry, CleanItem item) {
        for (const std::string& path : {entry.path, entry.path + ".part"}) {
            const FileCheck file = check_file(path, entry);
            if (file.found == Found::ours) {
                item.bytes = file.size;
                break;
            }
        }
        item.alive = download_alive(entry);
        emit(item, CleanAction::listed, "");
        return true;
    }

    void emit(CleanItem item, CleanAction action, std::string reason) {
        item.action = action;
        item.reason = std::move(reason);
        m_observer.on_item(item);
    }

    const CleanOptions& m_options;
    CleanObserver& m_observer;
    CleanSummary m_summary;
};

} // namespace

Result<CleanSummary> clean(const CleanOptions& options, CleanObserver& observer) {
    auto area = TempArea::find(options.area);
    if (!area) return tl::unexpected(area.error());
    if (!*area) return CleanSummary{}; // never used: nothing to clean
    Registry registry(**area);
    Cleaner cleaner(options, observer);
    if (options.list_only || options.dry_run) {
        auto entries = registry.load();
        if (!entries) return tl::unexpected(entries.error());
        for (const auto& entry : *entries)
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
