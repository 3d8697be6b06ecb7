#include <nettool/error.hpp>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace nettool {

std::string lower_first(std::string text) {
    if (text.size() > 1 && std::isupper(static_cast<unsigned char>(text[0])) &&
        !std::isupper(static_cast<unsigned char>(text[1]))) {
        text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    }
    return text;
}

std::string errno_text(int err) {
    char buffer[256];
    // GNU strerror_r returns a pointer that may or may not be into buffer.
    const char* text = strerror_r(err, buffer, sizeof buffer);
    return lower_first(text != nullptr ? text : "unknown error");
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
