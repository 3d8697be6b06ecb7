// Unix-domain listeners: paths and Linux abstract names. A path is only ever unlinked when it
// is a socket that nobody listens on (nc -lU unlinks whatever is there, a regular file included).
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fmt/format.h>
#include <nettool/listener.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace nettool {
namespace {

enum class Probe { stale, live, failed };

// Whether a server listens on the socket file: a non-blocking connect() is refused at once
// when nobody does (and succeeds or reports a full backlog when somebody does).
Probe probe(const SocketAddress& address, int& err) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = errno;
        return Probe::failed;
    }
    if (::connect(fd.get(), address.get(), address.length()) == 0) return Probe::live;
    err = errno;
    if (err == ECONNREFUSED) return Probe::stale;
    if (err == EAGAIN || err == EINPROGRESS) return Probe::live;
    return Probe::failed;
}

} // namespace

Result<Listener> open_unix_listener(const Endpoint& endpoint, const ListenOptions& options) {
    const std::string shown = endpoint.display();
    const SocketAddress address = SocketAddress::unix_socket(endpoint);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        const int err = errno;
        return fail(kind_of_socket_errno(err),
                    fmt::format("cannot create a socket for {}: {}", shown, errno_text(err)));
    }
    int rc = ::bind(fd.get(), address.get(), address.length());
    if (rc != 0 && errno == EADDRINUSE && !endpoint.abstract) {
        struct stat st {};
        if (::lstat(endpoint.unix_path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
            return fail(
                ErrorKind::file_io,
                fmt::format("{}: '{}' exists and is not a socket; nettool never removes it, "
                            "so move it away or choose another path",
                            shown, endpoint.unix_path));
        }
        int err = 0;
        switch (probe(address, err)) {
        case Probe::live:
            return fail(ErrorKind::network,
                        fmt::format("{} is in use: a server is listening on it; stop that server "
                                    "or choose another path",
                                    shown));
        case Probe::failed:
            return fail(kind_of_socket_errno(err),
                        fmt::format("{} exists and cannot be checked for a listening "
                                    "server ({}); remove it yourself if it is stale",
                                    shown, errno_text(err)));
        case Probe::stale:
            // A leftover of a server that died: replace it.
            if (::unlink(endpoint.unix_path.c_str()) != 0 && errno != ENOENT) {
                const int uerr = errno;
                return fail(ErrorKind::file_io,
                            fmt::format("cannot remove the stale socket file {}: {}",
                                        endpoint.unix_path, errno_text(uerr)));
            }
            rc = ::bind(fd.get(), address.get(), address.length());
            break;
        }
    }
    if (rc != 0) {
        const int err = errno;
        if (err == EADDRINUSE) {
            return fail(ErrorKind::network,
                        fmt::format("{} is in use by another socket; stop that server or "
                                    "choose another name",
                                    shown));
        }
        const auto kind = (err == EACCES || err == ENOENT || err == ENOTDIR || err == EROFS)
                              ? ErrorKind::file_io
                              : kind_of_socket_errno(err);
        return fail(kind, fmt::format("cannot bind {}: {}", shown, errno_text(err)));
    }
    if (::listen(fd.get(), options.backlog) != 0) {
        const int err = errno;
        ::unlink(endpoint.unix_path.c_str());
        return fail(kind_of_socket_errno(err),
                    fmt::format("cannot listen on {}: {}", shown, errno_text(err)));
    }
    Listener listener(std::move(fd), Transport::unix_stream, address);
    if (!endpoint.abstract) {
        struct stat st {};
        if (::lstat(endpoint.unix_path.c_str(), &st) == 0) {
            listener.own_socket_file(endpoint.unix_path, st.st_dev, st.st_ino);
        }
    }
    return listener;
}

} // namespace nettool
