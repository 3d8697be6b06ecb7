#include "util/fd.hpp"
#include "util/file.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <nettool/atomic_output.hpp>
#include <nettool/directory_names.hpp>
#include <nettool/part_meta.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

tl::unexpected<Error> io_error(std::string_view what, const std::string& path, int err) {
    return fail_errno(ErrorKind::file_io, err,
                      fmt::format("{} {}: {}", what, path, errno_text(err)));
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
    return io_error("lock", part_path, errno);
}

// A new file without a name (O_TMPFILE) in `dir`, or an invalid descriptor where the file
// system lacks them, or where one could not be named later: link_as() goes through
// /proc/self/fd where linkat(AT_EMPTY_PATH) is refused (it needs a capability before 6.10).
UniqueFd make_unnamed(int dir, mode_t mode) {
    static const bool nameable = ::access("/proc/self/fd", X_OK) == 0;
    if (!nameable) return UniqueFd();
    return UniqueFd(::openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode));
}

bool exists_at(int dir, const std::string& name) {
    struct stat st {};
    return ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// A .part that is there already holds an earlier download's bytes: never thrown away unasked.
tl::unexpected<Error> part_exists_error(const std::string& part_path) {
    return fail_errno(ErrorKind::file_io, EEXIST,
                      fmt::format("{} already exists (an interrupted download?); resume it with "
                                  "--continue, or use --force to start over",
                                  part_path));
}

Error exists_error(const std::string& path) {
    return Error{ErrorKind::file_io,
                 fmt::format("{} already exists; use --force to overwrite it", path), EEXIST, 0};
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
    if (options.dir_fd >= 0) {
        out.m_dir.reset(::fcntl(options.dir_fd, F_DUPFD_CLOEXEC, 0));
        if (!out.m_dir) return io_error("cannot use the directory of", out.m_path, errno);
        out.m_dir_names = options.dir_names;
    }
    if (options.defer_create && !options.force && !options.resume) {
        // Nothing is looked at yet: create() does all of it, where the file is made (for a
        // list of small files, on another thread than the transfers).
        out.m_name = util::base_name(out.m_path);
        out.m_part_name = out.m_name + ".part";
        out.m_part_path = out.m_path + ".part";
        out.m_pending = true;
        return out;
    }
    if (auto placed = out.place(options, false); !placed) return tl::unexpected(placed.error());
    return out;
}

bool AtomicOutput::known_absent(const std::string& name) const {
    return m_dir_names != nullptr && m_dir_names->absent(name);
}

Status AtomicOutput::place(const AtomicOutputOptions& options, bool unnamed) {
    // One lstat answers the usual case (nothing there yet), none when the directory's names,
    // read a moment ago, did not hold NAME; a symbolic link is followed to see what it names.
    // A dangling link still counts as an existing NAME. In a directory given by descriptor,
    // NAME is its base name there.
    const int at = m_dir ? m_dir.get() : AT_FDCWD;
    const std::string looked_up = m_dir ? util::base_name(m_path) : m_path;
    struct stat st {};
    const bool exists =
        !known_absent(looked_up) && ::fstatat(at, looked_up.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && (!S_ISLNK(st.st_mode) || ::fstatat(at, looked_up.c_str(), &st, 0) == 0)) {
        if (S_ISDIR(st.st_mode)) {
            return fail(ErrorKind::file_io,
                        fmt::format("{} is a directory; name a file, or use --output-dir", m_path));
        }
        if (!S_ISREG(st.st_mode)) return open_direct();
    }
    m_name = util::base_name(m_path);
    if (m_name.empty() || m_name == "." || m_name == "..") {
        return fail(ErrorKind::file_io,
                    fmt::format("{} does not name a file; name one, or use --output-dir", m_path));
    }
    if (!m_dir) {
        const std::string dir = util::parent_directory(m_path);
        m_dir.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!m_dir) return io_error("cannot open the directory", dir, errno);
    }
    // Checked again in the directory now held; RENAME_NOREPLACE at commit is the guarantee,
    // this only fails early. Nothing was there a moment ago: no need to look again.
    if (!options.force && exists && exists_at(m_dir.get(), m_name))
        return tl::unexpected(exists_error(m_path));
    m_part_name = m_name + ".part";
    m_part_path = m_path + ".part";
    if (!unnamed) return open_part(options);
    // The file needs no .part, but one left by an earlier download is refused as open_part()
    // refuses it (deferred outputs have neither force nor resume).
    if (!known_absent(m_part_name) && exists_at(m_dir.get(), m_part_name))
        return part_exists_error(m_part_path);
    // Made with its final mode: nobody can open a file without a name, and the mode never
    // holds a bit of the umask (it was made from it), so the kernel's masking changes nothing.
    m_fd = make_unnamed(m_dir.get(), m_final_mode);
    if (m_fd) {
        m_unnamed = true;
        m_final_mode_set = true;
        return {};
    }
    // No O_TMPFILE here (an old or network file system, no /proc): a named .part, as open()
    // makes.
    return open_part(options);
}

Status AtomicOutput::create() {
    if (!m_pending) return {};
    if (m_create_error) return tl::unexpected(*m_create_error);
    if (auto placed = place(AtomicOutputOptions{}, true); !placed) {
        m_create_error = placed.error(); // nothing was made: asked again, the same answer
        return placed;
    }
    m_pending = false;
    return {};
}

Status AtomicOutput::keep_as_part() {
    if (m_direct || m_committed) return {};
    if (auto made = create(); !made) return made;
    if (!m_unnamed) return {};
    if (::fchmod(m_fd.get(), 0600) != 0) return io_error("chmod", m_part_path, errno);
    m_final_mode_set = false;
    if (auto linked = publish(); !linked) return linked;
    return take_identity();
}

Result<AtomicOutput> AtomicOutput::create_unnamed(int dir_fd, std::string name, std::string shown,
                                                  AtomicOutputOptions options) {
    AtomicOutput out;
    out.m_path = std::move(shown);
    out.m_part_path = out.m_path + ".part";
    out.m_name = std::move(name);
    out.m_part_name = out.m_name + ".part";
    out.m_force = false;
    out.m_final_mode = options.final_mode ? *options.final_mode : (0666 & ~current_umask());
    out.m_dir.reset(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
    if (!out.m_dir) return io_error("cannot use the directory of", out.m_path, errno);
    out.m_fd = make_unnamed(out.m_dir.get(), 0600);
    if (!out.m_fd) {
        // No O_TMPFILE here (an old or network file system): a named .part, created O_EXCL.
        options.force = false;
        options.resume = false;
        if (auto opened = out.open_part(options); !opened) return tl::unexpected(opened.error());
        return out;
    }
    out.m_unnamed = true;
    if (auto locked = lock_part(out.m_fd.get(), out.m_part_path); !locked)
        return tl::unexpected(locked.error());
    if (auto identity = out.take_identity(); !identity) return tl::unexpected(identity.error());
    return out;
}

Status AtomicOutput::publish() {
    if (!m_unnamed) return {};
    return link_as(m_part_name, m_part_path);
}

// Gives the unnamed file the name `name` in its directory, never replacing one.
Status AtomicOutput::link_as(const std::string& name, const std::string& shown) {
    // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH before Linux 6.10; the link through
    // /proc/self/fd works everywhere /proc is mounted. The first refusal settles it for the
    // process.
    static std::atomic<bool> empty_path_links{true};
    int linked = -1;
    if (empty_path_links.load(std::memory_order_relaxed)) {
        linked = ::linkat(m_fd.get(), "", m_dir.get(), name.c_str(), AT_EMPTY_PATH);
        if (linked != 0 && (errno == ENOENT || errno == EPERM || errno == EINVAL))
            empty_path_links.store(false, std::memory_order_relaxed);
    }
    if (linked != 0 && !empty_path_links.load(std::memory_order_relaxed)) {
        const std::string self = fmt::format("/proc/self/fd/{}", m_fd.get());
        linked = ::linkat(AT_FDCWD, self.c_str(), m_dir.get(), name.c_str(), AT_SYMLINK_FOLLOW);
    }
    if (linked != 0) {
        if (errno == EEXIST) return tl::unexpected(exists_error(shown));
        return io_error("create", shown, errno);
    }
    m_unnamed = false;
    return {};
}

Status AtomicOutput::take_identity() {
    auto identity = identity_of(m_fd.get());
    if (!identity) return io_error("stat", m_part_path, identity.error().sys_errno);
    m_identity = *identity;
    return {};
}

Status AtomicOutput::open_direct() {
    m_direct = true;
    // No O_TRUNC: a device or FIFO has nothing to truncate, and O_NONBLOCK is not wanted.
    m_fd = m_dir ? UniqueFd(::openat(m_dir.get(), util::base_name(m_path).c_str(),
                                     O_WRONLY | O_CLOEXEC | O_NOCTTY))
                 : UniqueFd(::open(m_path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
    if (!m_fd) return io_error("open", m_path, errno);
    m_dir.reset(); // nothing is made beside a device or FIFO
    return {};
}

Status AtomicOutput::open_part(const AtomicOutputOptions& options) {
    const int dir = m_dir.get();
    const char* part = m_part_name.c_str();
    // A .part that was there before may have left its sidecar (even without the .part).
    m_sidecar_possible = options.resume;
    if (options.resume) {
        // O_NONBLOCK: a FIFO planted where the .part should be must not hang us.
        m_fd =
            UniqueFd(::openat(dir, part, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
        if (m_fd) {
            struct stat st {};
            if (::fstat(m_fd.get(), &st) != 0) return io_error("stat", m_part_path, errno);
            if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
                return fail(
                    ErrorKind::file_io,
                    fmt::format("{} is not a regular file owned by you; remove it to start over",
                                m_part_path));
            }
            if (::fcntl(m_fd.get(), F_SETFL, 0) != 0) return io_error("open", m_part_path, errno);
            if (auto locked = lock_part(m_fd.get(), m_part_path); !locked) return locked;
            if (::lseek(m_fd.get(), 0, SEEK_END) < 0) return io_error("seek", m_part_path, errno);
            m_size = static_cast<std::uint64_t>(st.st_size);
            m_resumed = true;
            return take_identity();
        }
        if (errno == ELOOP) {
            return fail(ErrorKind::file_io,
                        fmt::format("{} is a symbolic link; remove it", m_part_path));
        }
        if (errno != ENOENT) return io_error("open", m_part_path, errno);
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        m_fd = UniqueFd(::openat(
            dir, part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
        if (m_fd) break;
        if (errno != EEXIST) return io_error("create", m_part_path, errno);
        if (!options.force || attempt > 0) return part_exists_error(m_part_path);
        // --force: start over, unless a live download holds that .part.
        UniqueFd old(::openat(dir, part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        if (old) {
            if (auto locked = lock_part(old.get(), m_part_path); !locked) return locked;
        }
        if (::unlinkat(dir, part, 0) != 0 && errno != ENOENT)
            return io_error("remove", m_part_path, errno);
        m_sidecar_possible = true;
    }
    if (auto locked = lock_part(m_fd.get(), m_part_path); !locked) return locked;
    return take_identity();
}

Status AtomicOutput::write(std::span<const char> data) {
    if (auto made = create(); !made) return made;
    const std::string& name = m_borrowed_fd >= 0 ? "standard output"
                              : m_direct         ? m_path
                                                 : m_part_path;
    if (auto written = util::write_all(fd(), data, name); !written) {
        if (written.error().sys_errno == EPIPE && m_borrowed_fd >= 0)
            written.error().message = "write to standard output: the reader has gone away";
        // Part of it may have been written (a disk filling up): the size follows the file.
        if (!m_direct) {
            if (const off_t at = ::lseek(fd(), 0, SEEK_CUR); at >= 0)
                m_size = static_cast<std::uint64_t>(at);
        }
        return written;
    }
    m_size += data.size();
    return {};
}

bool AtomicOutput::set_o_direct(bool on) {
    if (on == m_o_direct) return true;
    const int flags = ::fcntl(fd(), F_GETFL);
    if (flags < 0 || ::fcntl(fd(), F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) != 0) {
        m_direct_io_usable = false;
        return false;
    }
    m_o_direct = on;
    return true;
}

Status AtomicOutput::write_aligned(std::span<const char> data) {
    if (auto made = create(); !made) return made;
    constexpr std::uint64_t page = 4096;
    const bool aligned = m_size % page == 0 && data.size() % page == 0 &&
                         reinterpret_cast<std::uintptr_t>(data.data()) % page == 0;
    if (m_direct || !aligned || !m_direct_io_usable || !set_o_direct(true)) {
        (void)set_o_direct(false);
        return write(data);
    }
    for (;;) {
        const ssize_t n = ::write(fd(), data.data(), data.size());
        if (n == static_cast<ssize_t>(data.size())) {
            m_size += data.size();
            return {};
        }
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
            // Cut short (a full disk, a signal): the rest, unaligned now, goes the plain way,
            // which also reports the failure.
            m_size += static_cast<std::uint64_t>(n);
            data = data.subspan(static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINVAL) {
            m_direct_io_usable = false; // the flag was taken, the write was not: never again
        }
        (void)set_o_direct(false);
        return write(data);
    }
}

Status AtomicOutput::restart() {
    if (m_direct) {
        if (m_size == 0) return {};
        return fail(ErrorKind::file_io,
                    fmt::format("cannot start {} over: {} bytes were already written to it and it "
                                "is not a regular file",
                                m_path == "-" ? std::string("standard output") : m_path, m_size));
    }
    if (m_pending) return {}; // nothing was written: nothing to take back
    if (::ftruncate(fd(), 0) != 0) return io_error("truncate", m_part_path, errno);
    if (::lseek(fd(), 0, SEEK_SET) < 0) return io_error("seek", m_part_path, errno);
    m_size = 0;
    return {};
}

Status AtomicOutput::rename_into_place() {
    const int dir = m_dir.get();
    const char* part = m_part_name.c_str();
    const char* name = m_name.c_str();
    const std::string what = "rename " + m_part_path + " to";
    if (m_force) {
        if (::renameat(dir, part, dir, name) != 0) return io_error(what, m_path, errno);
        return {};
    }
    if (::renameat2(dir, part, dir, name, RENAME_NOREPLACE) == 0) return {};
    if (errno == EEXIST) return tl::unexpected(exists_error(m_path));
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return io_error(what, m_path, errno);
    // The file system cannot rename without replacing: link() fails with EEXIST instead.
    if (::linkat(dir, part, dir, name, 0) == 0) {
        ::unlinkat(dir, part, 0);
        return {};
    }
    if (errno == EEXIST) return tl::unexpected(exists_error(m_path));
    if (errno != EPERM && errno != ENOTSUP)
        return io_error("link " + m_part_path + " to", m_path, errno);
    // No hard links either (vfat): check, then rename; the window is documented in the man page.
    if (exists_at(dir, m_name)) return tl::unexpected(exists_error(m_path));
    if (::renameat(dir, part, dir, name) != 0) return io_error(what, m_path, errno);
    return {};
}

Status AtomicOutput::commit(std::optional<std::chrono::system_clock::time_point> mtime, bool sync,
                            DirectorySyncs* directory_syncs) {
    if (m_direct) {
        if (sync && m_borrowed_fd < 0 && ::fsync(fd()) != 0 && errno != EINVAL && errno != EROFS)
            return io_error("sync", m_path, errno);
        return {};
    }
    if (auto made = create(); !made) return made; // an empty download
    // Mode and time first, so that the one fsync makes them durable with the bytes (and no
    // change dirties the file again after it).
    if (!m_final_mode_set && ::fchmod(fd(), m_final_mode) != 0)
        return io_error("chmod", m_part_path, errno);
    if (mtime) {
        const auto since_epoch = mtime->time_since_epoch();
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
        const auto nanos =
            std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds);
        const timespec times[2] = {{0, UTIME_OMIT}, {seconds.count(), nanos.count()}};
        if (::futimens(fd(), times) != 0) return io_error("set the time of", m_part_path, errno);
    }
    if (sync && ::fsync(fd()) != 0) return io_error("sync", m_part_path, errno);
    // An unnamed file (defer_create) gets NAME directly; the temp area's were named before.
    if (auto placed = m_unnamed ? link_as(m_name, m_path) : rename_into_place(); !placed)
        return placed;
    m_committed = true;
    // Only where one can be: a fresh .part that never got a sidecar saves a failing unlink.
    if (m_sidecar_possible) ::unlinkat(m_dir.get(), part_meta_name(m_part_name).c_str(), 0);
    if (sync && directory_syncs != nullptr) return directory_syncs->sync(m_dir.get(), m_path);
    if (sync && ::fsync(m_dir.get()) != 0 && errno != EINVAL)
        return io_error("sync the directory of", m_path, errno);
    return {};
}

void AtomicOutput::discard() {
    if (m_direct || m_committed || m_pending) return;
    if (!m_unnamed) {
        ::unlinkat(m_dir.get(), m_part_name.c_str(), 0);
        ::unlinkat(m_dir.get(), part_meta_name(m_part_name).c_str(), 0);
    }
    m_fd.reset();
}

} // namespace nettool
