#include "fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/stop.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool::util {

Status write_all(int fd, std::span<const char> data, std::string_view name) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n > 0) {
            data = data.subspan(static_cast<std::size_t>(n));
            continue;
        }
        const int err = n < 0 ? errno : EIO; // write() of a non-empty buffer never returns 0
        if (err == EINTR && !stop_requested()) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            // A non-blocking descriptor inherited from the shell: wait for room, or a stop.
            pollfd fds[2] = {{fd, POLLOUT, 0}, {stop_fd(), POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0 && errno != EINTR)
                return fail_errno(ErrorKind::file_io, errno,
                                  fmt::format("wait to write to {}: {}", name, errno_text(errno)));
            if (!stop_requested()) continue;
        }
        if (stop_requested()) return fail(ErrorKind::interrupted, "interrupted");
        return fail_errno(ErrorKind::file_io, err,
                          fmt::format("write to {}: {}", name, errno_text(err)));
    }
    return {};
}

Result<int> set_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        const int err = errno;
        return fail_errno(
            ErrorKind::file_io, err,
            fmt::format("cannot make descriptor {} non-blocking: {}", fd, errno_text(err)));
    }
    return flags;
}

FlagsGuard& FlagsGuard::operator=(FlagsGuard&& other) noexcept {
    if (this != &other) {
        restore();
        m_fd = std::exchange(other.m_fd, -1);
        m_flags = other.m_flags;
    }
    return *this;
}

void FlagsGuard::restore() {
    if (m_fd >= 0) ::fcntl(m_fd, F_SETFL, m_flags);
    m_fd = -1;
}

bool half_close_socket(int fd) {
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
    ::shutdown(fd, SHUT_WR);
    return true;
}

} // namespace nettool::util
