#include <nettool/error.hpp>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace nettool {

std::string errno_text(int err) {
    char buffer[256];
    // GNU strerror_r returns a pointer that may or may not be into buffer.
    const char* text = strerror_r(err, buffer, sizeof buffer);
    std::string result = text != nullptr ? text : "unknown error";
    if (!result.empty() && std::isupper(static_cast<unsigned char>(result[0])) &&
        (result.size() < 2 || !std::isupper(static_cast<unsigned char>(result[1])))) {
        result[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(result[0])));
    }
    return result;
}

ErrorKind kind_of_socket_errno(int err) {
    switch (err) {
    case EMFILE:
    case ENFILE:
    case ENOSPC:
    case EDQUOT:
    case EROFS:
    case EIO:
        return ErrorKind::file_io;
    default:
        return ErrorKind::network;
    }
}

} // namespace nettool
