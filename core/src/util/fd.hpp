#pragma once
// Descriptor helpers every part of core/ shares: one write-all loop, one guard that puts back a
// shared descriptor's flags, and the non-blocking switch.
#include <nettool/error.hpp>
#include <span>
#include <string_view>
#include <utility>

namespace nettool::util {

// Writes all of `data` to fd. Partial writes continue and EINTR retries; on a non-blocking
// descriptor EAGAIN waits (poll) for room. A stop request (nettool/stop.hpp) that arrives
// while waiting ends it with ErrorKind::interrupted. Other failures are ErrorKind::file_io,
// "write to NAME: REASON", with the errno as the cause (EPIPE: the reader went away).
Status write_all(int fd, std::span<const char> data, std::string_view name);

// Sets O_NONBLOCK; returns the flags before the change.
Result<int> set_nonblocking(int fd);

// Restores a descriptor's file-status flags when it goes out of scope. stdin and stdout belong
// to the shell too (a non-blocking stdin leaks into it), so whoever changes their flags puts
// them back on every way out.
class FlagsGuard {
  public:
    FlagsGuard() = default;
    FlagsGuard(int fd, int saved_flags) : m_fd(fd), m_flags(saved_flags) {}
    FlagsGuard(FlagsGuard&& other) noexcept
        : m_fd(std::exchange(other.m_fd, -1)), m_flags(other.m_flags) {}
    FlagsGuard& operator=(FlagsGuard&& other) noexcept;
    FlagsGuard(const FlagsGuard&) = delete;
    FlagsGuard& operator=(const FlagsGuard&) = delete;
    ~FlagsGuard() { restore(); }

  private:
    void restore();

    int m_fd = -1;
    int m_flags = 0;
};

// shutdown(SHUT_WR) when fd is a socket (the far side reads EOF); false when it is not one.
bool half_close_socket(int fd);

} // namespace nettool::util
