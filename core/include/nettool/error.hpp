#pragma once
// The error model of core/: every fallible function returns Result<T>. An Error carries a
// kind (which maps one-to-one onto an exit code, see nettool(1) EXIT STATUS), one sentence that
// names the operand and, where there is one, the fix, and the cause it came from (the errno
// of a failed system call, the code of a failed libcurl call). Code that must tell causes
// apart (a vanished peer from a full disk, a refused port from a timeout) looks at the cause,
// never at the sentence. core/ never prints and never exits.
#include <string>
#include <tl/expected.hpp>

namespace nettool {

enum class ErrorKind : int {
    generic = 1,
    usage = 2,         // bad option, endpoint, URL, duration
    file_io = 3,       // cannot read or write a local file
    network = 4,       // resolution, refused, unreachable, timeout, reset, address in use
    tls = 5,           // handshake, certificate verification
    auth = 6,          // HTTP 401/407 after credentials were offered
    protocol = 7,      // malformed response, too many redirects
    server = 8,        // HTTP status >= 400, FTP error
    checksum = 9,      // checksum mismatch
    interrupted = 130, // SIGINT
};

struct Error {
    ErrorKind kind = ErrorKind::generic;
    std::string message;
    int sys_errno = 0; // the errno behind it, when a system call failed
    int curl_code = 0; // the CURLcode behind it, when libcurl failed
};

template <class T> using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> fail(ErrorKind kind, std::string message) {
    return tl::unexpected<Error>(Error{kind, std::move(message)});
}

// An Error whose cause is the errno `err`.
inline tl::unexpected<Error> fail_errno(ErrorKind kind, int err, std::string message) {
    return tl::unexpected<Error>(Error{kind, std::move(message), err, 0});
}

// The process exit code for an error kind (nettool(1) EXIT STATUS).
constexpr int exit_code(ErrorKind kind) {
    return static_cast<int>(kind);
}

// strerror() in lower case and thread-safe: "connection refused", never a bare number.
std::string errno_text(int err);

// A library's message made to sit mid-sentence: "Name or service not known" -> "name or
// service not known"; acronyms ("SSL ...") are left alone.
std::string lower_first(std::string text);

// The kind an errno from a socket operation belongs to: network for connection trouble,
// file_io for local files and descriptors.
ErrorKind kind_of_socket_errno(int err);

} // namespace nettool
