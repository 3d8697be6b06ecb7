#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/splice_pump.hpp>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace nettool {
namespace {
constexpr std::size_t k_chunk = 1 << 20;
}

bool SplicePump::suitable_sink(int sink_fd) {
    struct stat st {};
    if (::fstat(sink_fd, &st) != 0) return false;
    if (S_ISFIFO(st.st_mode)) return true;
    if (S_ISCHR(st.st_mode)) return major(st.st_rdev) == 1 && minor(st.st_rdev) == 3; // /dev/null
    if (S_ISREG(st.st_mode)) {
        const int flags = ::fcntl(sink_fd, F_GETFL);
        return flags >= 0 && (flags & O_APPEND) == 0; // splice refuses O_APPEND files
    }
    return false;
}

Result<SplicePump> SplicePump::create(int source_fd, int sink_fd, std::string source_name,
                                      std::string sink_name) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        const int err = errno;
        return fail(kind_of_socket_errno(err),
                    fmt::format("cannot create a pipe for the relay: {}", errno_text(err)));
    }
    // A bigger pipe means fewer system calls per byte; the default (64 KiB) works too.
    ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(k_chunk));
    return SplicePump(source_fd, sink_fd, UniqueFd(fds[0]), UniqueFd(fds[1]),
                      std::move(source_name), std::move(sink_name));
}

SplicePump::SplicePump(int source_fd, int sink_fd, UniqueFd pipe_read, UniqueFd pipe_write,
                       std::string source_name, std::string sink_name)
    : m_source(source_fd), m_sink(sink_fd), m_pipe_read(std::move(pipe_read)),
      m_pipe_write(std::move(pipe_write)), m_source_name(std::move(source_name)),
      m_sink_name(std::move(sink_name)) {}

Status SplicePump::step() {
    // The private pipe is only filled when empty, so EAGAIN always names one side: the socket
    // has nothing (filling) or the sink is full (draining).
    for (int rounds = 0; rounds < 64 && !m_finished; ++rounds) {
        if (m_pending > 0) {
            const ssize_t n = ::splice(m_pipe_read.get(), nullptr, m_sink, nullptr, m_pending,
                                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) return {};
                const int err = errno;
                return failed(Pump::Side::sink, err,
                              err == EPIPE ? ErrorKind::file_io : kind_of_socket_errno(err),
                              fmt::format("write to {}", m_sink_name));
            }
            m_pending -= static_cast<std::size_t>(n);
            m_bytes_out += static_cast<std::uint64_t>(n);
            if (m_pending > 0) continue;
        }
        if (m_source_ended) {
            m_finished = true;
            return {};
        }
        const ssize_t n = ::splice(m_source, nullptr, m_pipe_write.get(), nullptr, k_chunk,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return {};
            const int err = errno;
            // A reset too: whether it cut the data short is the relay's call.
            return failed(Pump::Side::source, err, kind_of_socket_errno(err),
                          fmt::format("read from {}", m_source_name));
        }
        if (n == 0) {
            m_source_ended = true;
            continue;
        }
        m_pending += static_cast<std::size_t>(n);
        m_bytes_in += static_cast<std::uint64_t>(n);
    }
    return {};
}

Status SplicePump::failed(Pump::Side side, int err, ErrorKind kind, const std::string& what) {
    m_finished = true;
    m_failed_side = side;
    m_failed_errno = err;
    return fail_errno(kind, err, fmt::format("{}: {}", what, errno_text(err)));
}

} // namespace nettool
