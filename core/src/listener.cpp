#include <cerrno>
#include <fmt/format.h>
#include <netinet/in.h>
#include <nettool/bind_diagnosis.hpp>
#include <nettool/listener.hpp>
#include <nettool/resolve.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {

Listener::Listener(UniqueFd fd, Transport transport, SocketAddress local)
    : m_fd(std::move(fd)), m_transport(transport), m_local(local) {}

Listener::~Listener() {
    remove_socket_file();
}

void Listener::close() {
    m_fd.reset();
    remove_socket_file();
}

void Listener::own_socket_file(std::string path, dev_t device, ino_t inode) {
    m_socket_file = std::move(path);
    m_device = device;
    m_inode = inode;
}

void Listener::remove_socket_file() {
    if (m_socket_file.empty()) return;
    struct stat st {};
    // Someone may have replaced the file since (another server after ours went stale): only
    // remove the socket we created.
    if (::lstat(m_socket_file.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == m_device &&
        st.st_ino == m_inode) {
        ::unlink(m_socket_file.c_str());
    }
    m_socket_file.clear();
}

namespace {

std::string transport_word(Transport t) {
    return t == Transport::udp ? "udp" : "tcp";
}

// Errors that mean "this address family or address does not exist here" (IPv6 disabled):
// tolerated for the second address of a name when the first one worked.
bool address_unavailable(int err) {
    return err == EAFNOSUPPORT || err == EADDRNOTAVAIL || err == EPROTONOSUPPORT;
}

struct BindFailure {
    int err;
    Error error;
};

tl::expected<Listener, BindFailure> bind_one(SocketAddress address, Transport transport,
                                             bool dual_stack, const ListenOptions& options) {
    const int type =
        (transport == Transport::udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    const auto failure = [&](std::string_view what) {
        const int err = errno;
        return tl::unexpected(BindFailure{
            err, Error{kind_of_socket_errno(err),
                       fmt::format("{} {} socket on {}: {}", what, transport_word(transport),
                                   address.display(), errno_text(err))}});
    };
    UniqueFd fd(::socket(address.family(), type, 0));
    if (!fd) return failure("cannot create a");
    const int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        return failure("cannot set SO_REUSEADDR on the");
    if (options.reuse_port &&
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        return failure("cannot set SO_REUSEPORT on the");
    }
    if (address.family() == AF_INET6) {
        // Explicit IPv6 addresses (including [::]) are IPv6 only; "*" is both families.
        const int v6only = dual_stack ? 0 : 1;
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (::bind(fd.get(), address.get(), address.length()) != 0) {
        const int err = errno;
        return tl::unexpected(
            BindFailure{err, describe_bind_error(err, transport, address.get(), address.length())});
    }
    if (transport != Transport::udp && ::listen(fd.get(), options.backlog) != 0)
        return failure("cannot listen on the");
    SocketAddress local = SocketAddress::local_of(fd.get());
    return Listener(std::move(fd), transport, local);
}

} // namespace

Result<std::vector<Listener>> open_listeners(const Endpoint& endpoint,
                                             const ListenOptions& options) {
    if (endpoint.transport == Transport::unix_stream) {
        auto listener = open_unix_listener(endpoint, options);
        if (!listener) return tl::unexpected(listener.error());
        std::vector<Listener> out;
        out.push_back(std::move(*listener));
        return out;
    }
    auto addresses = resolve(endpoint.host, endpoint.port, endpoint.transport, Family::any,
                             ResolveFor::listening);
    if (!addresses) return tl::unexpected(addresses.error());
    const bool dual_stack = endpoint.host == "*";

    // With port 0 the kernel picks the first socket's port; the others must get the same one,
    // which another program may hold on their address: then start over with a new port.
    constexpr int k_attempts = 8;
    for (int attempt = 1;; ++attempt) {
        std::vector<Listener> out;
        std::uint16_t port = endpoint.port;
        bool retry = false;
        for (std::size_t i = 0; i < addresses->size(); ++i) {
            SocketAddress address = (*addresses)[i];
            address.set_port(port);
            auto listener = bind_one(address, endpoint.transport, dual_stack, options);
            if (!listener && i == 0 && dual_stack && address_unavailable(listener.error().err)) {
                // No IPv6 on this host: all IPv4 interfaces.
                listener =
                    bind_one(SocketAddress::any(AF_INET, port), endpoint.transport, false, options);
            }
            if (!listener) {
                const int err = listener.error().err;
                if (i > 0 && address_unavailable(err)) continue; // e.g. ::1 without IPv6
                if (i > 0 && endpoint.port == 0 && err == EADDRINUSE && attempt < k_attempts) {
                    retry = true;
                    break;
                }
                return tl::unexpected(listener.error().error);
            }
            if (i == 0) port = listener->local().port();
            out.push_back(std::move(*listener));
        }
        if (!retry) return out;
    }
}

} // namespace nettool
