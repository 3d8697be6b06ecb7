#pragma once
// Small file helpers shared by the download storage (core-private).
#include <cerrno>
#include <cstddef>
#include <string>
#include <unistd.h>

namespace nettool::detail {

// write() until done: partial writes and EINTR are not errors. Returns 0 or an errno.
inline int write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return 0;
}

// "dir" of "dir/name"; "." for a bare name; "/" for "/name".
inline std::string parent_directory(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

} // namespace nettool::detail
