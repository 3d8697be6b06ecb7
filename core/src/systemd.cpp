// Socket activation and the readiness notification (nettool/systemd.hpp).
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/systemd.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace nettool {
namespace {

std::optional<std::string> environment_value(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
}

template <class T> bool parse_decimal(const std::string& text, T& value) {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return !text.empty() && ec == std::errc{} && ptr == text.data() + text.size();
}

std::vector<std::string> split_names(const std::string& text) {
    std::vector<std::string> names;
    std::size_t start = 0;
    while (true) {
        const std::size_t colon = text.find(':', start);
        names.push_back(text.substr(start, colon - start));
        if (colon == std::string::npos) return names;
        start = colon + 1;
    }
}

int socket_option(int fd, int option, int& value) {
    socklen_t length = sizeof value;
    return ::getsockopt(fd, SOL_SOCKET, option, &value, &length);
}

// The passed descriptor fd as a Listener, or why it cannot serve.
Result<Listener> adopt(int fd, const std::string& shown) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        return fail(ErrorKind::usage,
                    fmt::format("socket activation: {} is not a socket; pass sockets only "
                                "(ListenStream= or ListenDatagram= in the .socket unit)",
                                shown));
    }
    int domain = 0;
    int type = 0;
    int accepting = 0;
    if (socket_option(fd, SO_DOMAIN, domain) != 0 || socket_option(fd, SO_TYPE, type) != 0 ||
        socket_option(fd, SO_ACCEPTCONN, accepting) != 0) {
        const int err = errno;
        return fail_errno(
            ErrorKind::usage, err,
            fmt::format("socket activation: cannot inspect {}: {}", shown, errno_text(err)));
    }
    Transport transport = Transport::tcp;
    const bool inet = domain == AF_INET || domain == AF_INET6;
    if (type == SOCK_STREAM && (inet || domain == AF_UNIX)) {
        if (accepting == 0) {
            return fail(ErrorKind::usage,
                        fmt::format("socket activation: {} is a stream socket that does not "
                                    "listen (a connection from Accept=yes?); serve accepts "
                                    "connections itself, so use Accept=no in the .socket unit",
                                    shown));
        }
        transport = domain == AF_UNIX ? Transport::unix_stream : Transport::tcp;
    } else if (type == SOCK_DGRAM && inet) {
        transport = Transport::udp;
    } else {
        return fail(ErrorKind::usage,
                    fmt::format("socket activation: {} is neither a TCP or Unix stream socket "
                                "nor a UDP socket; serve takes ListenStream= (TCP, Unix) and "
                                "ListenDatagram= (UDP) sockets",
                                shown));
    }
    // Children (--exec) must not inherit the listening socket; the loop needs it non-blocking.
    const int fd_flags = ::fcntl(fd, F_GETFD);
    const int status_flags = ::fcntl(fd, F_GETFL);
    if (fd_flags < 0 || status_flags < 0 || ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) != 0 ||
        ::fcntl(fd, F_SETFL, status_flags | O_NONBLOCK) != 0) {
        const int err = errno;
        return fail_errno(
            ErrorKind::usage, err,
            fmt::format("socket activation: cannot prepare {}: {}", shown, errno_text(err)));
    }
    return Listener(UniqueFd(fd), transport, SocketAddress::local_of(fd));
}

} // namespace

Result<std::optional<ActivatedSockets>> sockets_from(const ActivationEnvironment& environment,
                                                     pid_t self, int first_fd) {
    pid_t pid = 0;
    if (!environment.listen_pid || !parse_decimal(*environment.listen_pid, pid) || pid != self)
        return std::nullopt; // not for this process (a parent's, left in the environment)
    if (!environment.listen_fds) return std::nullopt;
    int count = 0;
    // More than a few thousand descriptors is no socket unit's doing.
    if (!parse_decimal(*environment.listen_fds, count) || count < 0 || count > 4096) {
        return fail(ErrorKind::usage,
                    fmt::format("socket activation: LISTEN_FDS='{}' is not a number of sockets",
                                *environment.listen_fds));
    }
    if (count == 0) return std::nullopt;
    std::vector<std::string> names;
    if (environment.listen_fdnames) names = split_names(*environment.listen_fdnames);
    // Names that do not pair up with the descriptors are not trusted for any of them.
    if (names.size() != static_cast<std::size_t>(count)) names.assign(count, "");

    ActivatedSockets sockets;
    for (int i = 0; i < count; ++i) {
        const int fd = first_fd + i;
        const std::string shown = names[i].empty()
                                      ? fmt::format("descriptor {}", fd)
                                      : fmt::format("descriptor {} ('{}')", fd, names[i]);
        auto listener = adopt(fd, shown);
        if (!listener) return tl::unexpected(listener.error());
        sockets.listeners.push_back(std::move(*listener));
    }
    sockets.names = std::move(names);
    const auto datagrams = [](const Listener& l) { return l.transport() == Transport::udp; };
    const bool first = datagrams(sockets.listeners.front());
    for (const Listener& l : sockets.listeners) {
        if (datagrams(l) != first) {
            return fail(ErrorKind::usage,
                        "socket activation: stream (TCP, Unix) and datagram (UDP) sockets were "
                        "passed together; one serve serves one kind, so give each kind its own "
                        ".socket and .service units");
        }
    }
    return std::optional<ActivatedSockets>(std::move(sockets));
}

std::string activation_note(const ActivatedSockets& sockets, const Endpoint& endpoint) {
    std::string names;
    for (const auto& name : sockets.names) {
        if (!name.empty()) names += (names.empty() ? "" : ", ") + name;
    }
    const std::size_t count = sockets.listeners.size();
    return fmt::format("socket activation: serving {} passed socket{}{}; the endpoint {} is not "
                       "bound",
                       count, count == 1 ? "" : "s", names.empty() ? "" : " (" + names + ")",
                       endpoint.display());
}

Result<std::optional<ActivatedSockets>> activated_sockets() {
    const ActivationEnvironment environment{environment_value("LISTEN_PID"),
                                            environment_value("LISTEN_FDS"),
                                            environment_value("LISTEN_FDNAMES")};
    auto sockets = sockets_from(environment, ::getpid());
    if (sockets && *sockets) {
        for (const char* name : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"})
            ::unsetenv(name);
    }
    return sockets;
}

Status notify_socket_send(const std::string& address, std::string_view state) {
    const auto failure = [&](std::string_view why) {
        return fail(ErrorKind::generic,
                    fmt::format("cannot tell the service manager '{}' through NOTIFY_SOCKET={}: {}",
                                state, address, why));
    };
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (address.size() < 2 || address.size() >= sizeof un.sun_path ||
        (address[0] != '/' && address[0] != '@')) {
        return failure("it is neither an absolute path nor an abstract name (@NAME)");
    }
    std::memcpy(un.sun_path, address.data(), address.size());
    const bool abstract = address[0] == '@';
    if (abstract) un.sun_path[0] = '\0';
    // An abstract name is exactly its bytes; a path is counted with its terminating NUL.
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() +
                                               (abstract ? 0 : 1));
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return failure(errno_text(errno));
    ssize_t sent = -1;
    do {
        sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                        reinterpret_cast<const sockaddr*>(&un), length);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return failure(errno_text(errno));
    return {};
}

Status notify_service_manager(std::string_view state) {
    const char* address = std::getenv("NOTIFY_SOCKET");
    if (address == nullptr || *address == '\0') return {};
    return notify_socket_send(address, state);
}

} // namespace nettool
