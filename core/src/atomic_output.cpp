#include "util/fd.hpp"
#include "util/file.hpp"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <nettool/atomic_output.hpp>
#include <nettool/part_meta.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

Error io_error(std::string_view what, const std::string& path, int err) {
    return Error{ErrorKind::file_io, fmt::format("{} {}: {}", what, path, errno_text(err))};
}

// Takes the download's lock; EWOULDBLOCK means another process writes this file right now.
Status lock_part(int fd, const std::string& part_path) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return {};
    if (errno == EWOULDBLOCK) {
        return fail(ErrorKind::file_io,
                    fmt::format("{} is being written by another nettool process; wait for it or "
                                "choose another name",
                                part_path));
    }
    return tl::unexpected(io_error("lock", part_path, errno));
}

bool exists_no_follow(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

Error exists_error(const std::string& path) {
    return Error{ErrorKind::file_io,
                 fmt::format("{} already exists; use --force to overwrite it", path)};
}

} // namespace

mode_t current_umask() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Umask:", 0) == 0) {
            try {
                return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
            } catch (const std::exception&) {
                break;
            }
        }
    }
    const mode_t mask = ::umask(022); // not thread-safe; only when /proc is missing
    ::umask(mask);
    return mask;
}

Result<AtomicOutput> AtomicOutput::open(std::string path, AtomicOutputOptions options) {
    AtomicOutput out;
    out.m_path = std::move(path);
    out.m_force = options.force;
    out.m_final_mode = options.final_mode ? *options.final_mode : (0666 & ~current_umask());
    if (out.m_path.empty()) return fail(ErrorKind::usage, "the output file name is empty");
    if (out.m_path == "-") {
        out.m_direct = true;
        out.m_borrowed_fd = STDOUT_FILENO;
        return out;
    }
    struct stat st {};
    if (::stat(out.m_path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            return fail(
                ErrorKind::file_io,
                fmt::format("{} is a directory; name a file, or use --output-dir", out.m_path));
        }
        if (!S_ISREG(st.st_mode)) {
            if (auto opened = out.open_direct(); !opened) return tl::unexpected(opened.error());
            return out;
        }
    }
    if (!options.force && exists_no_follow(out.m_path))
        return tl::unexpected(exists_error(out.m_path));
    out.m_part_path = out.m_path + ".part";
    if (auto opened = out.open_part(options); !opened) return tl::unexpected(opened.error());
    return out;
}

Status AtomicOutput::open_direct() {
    m_direct = true;
    // No O_TRUNC: a device or FIFO has nothing to truncate, and O_NONBLOCK is not wanted.
    m_fd = UniqueFd(::open(m_path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
    if (!m_fd) return tl::unexpected(io_error("open", m_path, errno));
    return {};
}

Status AtomicOutput::open_part(const AtomicOutputOptions& options) {
    if (options.resume) {
        m_fd = UniqueFd(::open(m_part_path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
        if (m_fd) {
            struct stat st {};
            if (::fstat(m_fd.get(), &st) != 0)
                return tl::unexpected(io_error("stat", m_part_path, errno));
            if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
                return fail(
                    ErrorKind::file_io,
                    fmt::format("{} is not a regular file owned by you; remove it to start over",
                                m_part_path));
            }
            if (auto locked = lock_part(m_fd.get(), m_part_path); !locked) return locked;
            if (::lseek(m_fd.get(), 0, SEEK_END) < 0)
                return tl::unexpected(io_error("seek", m_part_path, errno));
            m_size = static_cast<std::uint64_t>(st.st_size);
            m_device = st.st_dev;
            m_inode = st.st_ino;
            m_resumed = true;
            return {};
        }
        if (errno == ELOOP) {
            return fail(ErrorKind::file_io,
                        fmt::format("{} is a symbolic link; remove it", m_part_path));
        }
        if (errno != ENOENT) return tl::unexpected(io_error("open", m_part_path, errno));
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        m_fd =
            UniqueFd(::open(m_part_path.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
        if (m_fd) break;
        if (errno != EEXIST) return tl::unexpected(io_error("create", m_part_path, errno));
        if (!options.force || attempt > 0) {
            return fail(ErrorKind::file_io,
                        fmt::format("{} already exists (an interrupted download?); resume it with "
                                    "--continue, or use --force to start over",
                                    m_part_path));
        }
        // --force: start over, unless a live download holds that .part.
        UniqueFd old(::open(m_part_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        if (old) {
            if (auto locked = lock_part(old.get(), m_part_path); !locked) return locked;
        }
        if (::unlink(m_part_path.c_str()) != 0 && errno != ENOENT) {
            return tl::unexpected(io_error("remove", m_part_path, errno));
        }
    }
    if (auto locked = lock_part(m_fd.get(), m_part_path); !locked) return locked;
    struct stat st {};
    if (::fstat(m_fd.get(), &st) != 0) return tl::unexpected(io_error("stat", m_part_path, errno));
    m_device = st.st_dev;
    m_inode = st.st_ino;
    return {};
}

Status AtomicOutput::write(std::span<const char> data) {
    const std::string& name = m_borrowed_fd >= 0 ? "standard output"
                              : m_direct         ? m_path
                                                 : m_part_path;
    if (auto written = util::write_all(fd(), data, name); !written) {
        if (written.error().sys_errno == EPIPE && m_borrowed_fd >= 0)
            written.error().message = "write to standard output: the reader has gone away";
        return written;
    }
    m_size += data.size();
    return {};
}

Status AtomicOutput::restart() {
    if (m_direct) {
        if (m_size == 0) return {};
        return fail(ErrorKind::file_io,
                    fmt::format("cannot start {} over: {} bytes were already written to it and it "
                                "is not a regular file",
                                m_path == "-" ? std::string("standard output") : m_path, m_size));
    }
    if (::ftruncate(fd(), 0) != 0) return tl::unexpected(io_error("truncate", m_part_path, errno));
    if (::lseek(fd(), 0, SEEK_SET) < 0) return tl::unexpected(io_error("seek", m_part_path, errno));
    m_size = 0;
    return {};
}

Status AtomicOutput::rename_into_place() {
    if (m_force) {
        if (::rename(m_part_path.c_str(), m_path.c_str()) != 0) {
            return tl::unexpected(io_error("rename " + m_part_path + " to", m_path, errno));
        }
        return {};
    }
    if (::renameat2(AT_FDCWD, m_part_path.c_str(), AT_FDCWD, m_path.c_str(), RENAME_NOREPLACE) ==
        0) {
        return {};
    }
    if (errno == EEXIST) return tl::unexpected(exists_error(m_path));
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
        return tl::unexpected(io_error("rename " + m_part_path + " to", m_path, errno));
    }
    // The file system cannot rename without replacing: link() fails with EEXIST instead.
    if (::link(m_part_path.c_str(), m_path.c_str()) == 0) {
        ::unlink(m_part_path.c_str());
        return {};
    }
    if (errno == EEXIST) return tl::unexpected(exists_error(m_path));
    if (errno != EPERM && errno != ENOTSUP) {
        return tl::unexpected(io_error("link " + m_part_path + " to", m_path, errno));
    }
    // No hard links either (vfat): check, then rename; the window is documented in the man page.
    if (exists_no_follow(m_path)) return tl::unexpected(exists_error(m_path));
    if (::rename(m_part_path.c_str(), m_path.c_str()) != 0) {
        return tl::unexpected(io_error("rename " + m_part_path + " to", m_path, errno));
    }
    return {};
}

Status AtomicOutput::commit(std::optional<std::chrono::system_clock::time_point> mtime) {
    if (m_direct) {
        if (m_borrowed_fd < 0 && ::fsync(fd()) != 0 && errno != EINVAL && errno != EROFS) {
            return tl::unexpected(io_error("sync", m_path, errno));
        }
        return {};
    }
    if (::fsync(fd()) != 0) return tl::unexpected(io_error("sync", m_part_path, errno));
    if (::fchmod(fd(), m_final_mode) != 0)
        return tl::unexpected(io_error("chmod", m_part_path, errno));
    if (mtime) {
        const auto since_epoch = mtime->time_since_epoch();
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
        const auto nanos =
            std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds);
        const timespec times[2] = {{0, UTIME_OMIT}, {seconds.count(), nanos.count()}};
        if (::futimens(fd(), times) != 0)
            return tl::unexpected(io_error("set the time of", m_part_path, errno));
    }
    if (auto renamed = rename_into_place(); !renamed) return renamed;
    m_committed = true;
    remove_part_meta(m_part_path);
    return util::sync_parent_directory(m_path);
}

void AtomicOutput::discard() {
    if (m_direct || m_committed) return;
    ::unlink(m_part_path.c_str());
    remove_part_meta(m_part_path);
    m_fd.reset();
}

} // namespace nettool
