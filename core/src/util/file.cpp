#include "file.hpp"

#include "fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool::util {
namespace {

tl::unexpected<Error> io_failure(std::string_view what, std::string_view shown, int err) {
    return fail_errno(ErrorKind::file_io, err,
                      fmt::format("{} {}: {}", what, shown, errno_text(err)));
}

std::string temporary_name(const std::string& name) {
    unsigned char bytes[6] = {};
    if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
        // Cannot fail for 6 bytes once the pool is ready; O_EXCL catches a clash anyway.
        for (auto& b : bytes)
            b = static_cast<unsigned char>(b ^ ::getpid());
    }
    std::string tag;
    for (const unsigned char b : bytes)
        tag += fmt::format("{:02x}", b);
    return fmt::format(".{}.{}.tmp", name, tag);
}

} // namespace

Status write_file_atomically(int dir_fd, const std::string& name, std::string_view text,
                             std::string_view shown, bool sync) {
    const std::string temp = temporary_name(name);
    UniqueFd fd(
        ::openat(dir_fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return io_failure("create a temporary file for", shown, errno);
    const auto give_up = [&](Error error) {
        ::unlinkat(dir_fd, temp.c_str(), 0);
        return tl::unexpected(std::move(error));
    };
    if (auto written = write_all(fd.get(), text, shown); !written) return give_up(written.error());
    if (sync && ::fsync(fd.get()) != 0) return give_up(io_failure("sync", shown, errno).value());
    fd.reset();
    if (::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0)
        return give_up(io_failure("replace", shown, errno).value());
    if (sync && ::fsync(dir_fd) != 0 && errno != EINVAL)
        return io_failure("sync the directory of", shown, errno);
    return {};
}

Status write_file_atomically(const std::string& path, std::string_view text) {
    const std::string dir = parent_directory(path);
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) return io_failure("open the directory", dir, errno);
    return write_file_atomically(dir_fd.get(), base_name(path), text, path);
}

Result<UniqueFd> open_own_file(int dir_fd, const std::string& name, int flags, mode_t mode,
                               std::string_view shown) {
    UniqueFd fd(::openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode));
    if (!fd) {
        if (errno == ELOOP)
            return fail(ErrorKind::file_io, fmt::format("{} is a symbolic link; remove it", shown));
        return io_failure("open", shown, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return io_failure("stat", shown, errno);
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
        return fail(ErrorKind::file_io,
                    fmt::format("{} is not a regular file owned by you; remove it", shown));
    }
    return fd;
}

Result<std::optional<std::string>> read_own_file(int dir_fd, const std::string& name,
                                                 std::size_t max_size, std::string_view shown) {
    // O_NONBLOCK: a FIFO put where the file should be must not hang us before it is refused.
    auto fd = open_own_file(dir_fd, name, O_RDONLY | O_NONBLOCK, 0, shown);
    if (!fd) {
        if (fd.error().sys_errno == ENOENT) return std::optional<std::string>{};
        return tl::unexpected(fd.error());
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return io_failure("stat", shown, errno);
    if (static_cast<std::size_t>(st.st_size) > max_size) {
        return fail(ErrorKind::file_io,
                    fmt::format("{} is larger ({} bytes) than such a file can be ({} bytes); "
                                "remove it",
                                shown, st.st_size, max_size));
    }
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd->get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return io_failure("read", shown, errno);
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > max_size)
            return fail(ErrorKind::file_io,
                        fmt::format("{} grew while it was read; try again", shown));
    }
    return std::optional<std::string>(std::move(text));
}

Result<std::optional<std::string>> read_own_file(const std::string& path, std::size_t max_size) {
    const std::string dir = parent_directory(path);
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) {
        if (errno == ENOENT) return std::optional<std::string>{};
        return io_failure("open the directory", dir, errno);
    }
    return read_own_file(dir_fd.get(), base_name(path), max_size, path);
}

std::string parent_directory(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string base_name(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status sync_parent_directory(const std::string& path) {
    const std::string dir = parent_directory(path);
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return io_failure("open directory", dir, errno);
    if (::fsync(fd.get()) != 0 && errno != EINVAL) return io_failure("sync directory", dir, errno);
    return {};
}

} // namespace nettool::util
