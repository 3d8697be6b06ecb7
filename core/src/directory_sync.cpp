#include <cerrno>
#include <fmt/format.h>
#include <nettool/directory_sync.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

Error sync_failure(const std::string& shown, int err) {
    return Error{ErrorKind::file_io,
                 fmt::format("cannot sync the directory of {}: {}", shown, errno_text(err)), err};
}

} // namespace

Status DirectorySyncs::sync(int dir_fd, const std::string& shown) {
    struct stat st {};
    if (::fstat(dir_fd, &st) != 0) return tl::unexpected(sync_failure(shown, errno));
    std::unique_lock lock(m_mutex);
    Group& group = m_groups[{st.st_dev, st.st_ino}];
    const std::uint64_t ticket = ++group.requested;
    while (group.done < ticket) {
        if (group.running) {
            m_ended.wait(lock);
            continue;
        }
        // Lead: one fsync for every ticket handed out so far (their renames came before it).
        group.running = true;
        const std::uint64_t from = group.done + 1;
        const std::uint64_t covers = group.requested;
        lock.unlock();
        const int err = ::fsync(dir_fd) != 0 && errno != EINVAL ? errno : 0;
        lock.lock();
        group.running = false;
        group.done = covers;
        if (err != 0) {
            group.failed_from = from;
            group.failed_to = covers;
            group.failed_errno = err;
        }
        m_ended.notify_all();
    }
    if (ticket >= group.failed_from && ticket <= group.failed_to)
        return tl::unexpected(sync_failure(shown, group.failed_errno));
    return {};
}

} // namespace nettool
