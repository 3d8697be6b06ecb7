#include "connect_relay.hpp"
#include "duration_text.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/connect.hpp>
#include <nettool/hexdump.hpp>
#include <nettool/pump.hpp>
#include <nettool/stop.hpp>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

namespace nettool {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds k_first_backoff{100};
constexpr milliseconds k_max_backoff{1000};

Result<std::vector<SockAddr>> candidates_for(const ConnectOptions& options) {
    const Endpoint& ep = options.endpoint;
    if (ep.transport == Transport::unix_stream) return std::vector<SockAddr>{unix_sockaddr(ep)};
    auto resolved = resolve(ep.host, ep.port, ep.transport, options.family);
    if (!resolved) return resolved;
    std::vector<SockAddr> list = interleave_families(*resolved);
    if (options.source && options.source->address) {
        const int family = options.source->address->family();
        std::erase_if(list, [&](const SockAddr& a) { return a.family() != family; });
        if (list.empty()) {
            return fail(
                ErrorKind::network,
                fmt::format("'{}' has no {} address to match the source address {}; choose a "
                            "source of the other family",
                            ep.host, family == AF_INET ? "IPv4" : "IPv6",
                            format_address(*options.source->address)));
        }
    }
    return list;
}

// Waits `delay` unless a stop is requested first; false when stopped.
bool pause_unless_stopped(milliseconds delay) {
    pollfd p{stop_fd(), POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(delay.count()));
    return !(rc > 0 || stop_requested());
}

milliseconds left_until(Clock::time_point deadline) {
    return std::max(milliseconds{0}, std::chrono::ceil<milliseconds>(deadline - Clock::now()));
}

// Restores a shared descriptor's file-status flags (stdin/stdout belong to the shell too).
class FlagsGuard {
  public:
    FlagsGuard() = default;
    FlagsGuard(int fd, int flags) : m_fd(fd), m_flags(flags) {}
    FlagsGuard(const FlagsGuard&) = delete;
    FlagsGuard& operator=(const FlagsGuard&) = delete;
    ~FlagsGuard() {
        if (m_fd >= 0) restore_flags(m_fd, m_flags);
    }

  private:
    int m_fd = -1;
    int m_flags = 0;
};

// --send TEXT becomes a memory file: always readable, ends where the text ends, and the
// relay treats it like any other input.
Result<UniqueFd> text_as_fd(const std::string& text) {
    UniqueFd fd(::memfd_create("nettool-send", MFD_CLOEXEC));
    if (!fd) {
        const int err = errno;
        return fail(ErrorKind::generic,
                    fmt::format("cannot hold the --send text: {}", errno_text(err)));
    }
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : ENOSPC;
            return fail(ErrorKind::generic,
                        fmt::format("cannot hold the --send text: {}", errno_text(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    ::lseek(fd.get(), 0, SEEK_SET);
    return fd;
}

} // namespace

Result<Connected> open_connection(const ConnectOptions& options, ConnectObserver& observer) {
    const auto started = Clock::now();
    const auto give_up = options.wait ? started + *options.wait : started;
    milliseconds backoff = k_first_backoff;
    for (int attempt = 1;; ++attempt) {
        auto candidates = candidates_for(options);
        if (!candidates) return tl::unexpected(candidates.error());
        Race::Settings settings;
        settings.socktype = options.endpoint.transport == Transport::udp ? SOCK_DGRAM : SOCK_STREAM;
        if (options.endpoint.transport != Transport::unix_stream) settings.source = options.source;
        settings.timeout = options.timeout;
        if (options.wait)
            settings.timeout = std::clamp(left_until(give_up), milliseconds{1}, options.timeout);
        settings.deadline = Clock::now() + settings.timeout;
        settings.name = options.endpoint.transport == Transport::unix_stream
                            ? options.endpoint.display()
                            : format_host_port(options.endpoint.host, options.endpoint.port);
        auto result = run_race(std::move(*candidates), settings);
        if (result) return std::move(*result);
        RaceFailure failure = std::move(result.error());
        if (failure.error.kind == ErrorKind::interrupted || !options.wait || !failure.transient) {
            return tl::unexpected(std::move(failure.error));
        }
        const milliseconds left = left_until(give_up);
        if (left.count() == 0) {
            failure.error.message += fmt::format(" (kept trying for {}, {} attempts)",
                                                 duration_text(*options.wait), attempt);
            return tl::unexpected(std::move(failure.error));
        }
        const milliseconds delay = std::min(backoff, left);
        observer.retrying(failure.error, delay, left);
        if (!pause_unless_stopped(delay)) return fail(ErrorKind::interrupted, "");
        backoff = std::min(backoff * 2, k_max_backoff);
    }
}

Status connect(const ConnectOptions& options, ConnectObserver& observer) {
    // Local files first: an unwritable --hexdump FILE is an error before any packet is sent.
    std::optional<HexDump> hexdump;
    if (options.hexdump_path) {
        auto opened = HexDump::open(*options.hexdump_path);
        if (!opened) return tl::unexpected(opened.error());
        hexdump.emplace(std::move(*opened));
    }
    UniqueFd text_fd;
    int input_fd = options.input_fd;
    if (options.send_text) {
        auto fd = text_as_fd(*options.send_text);
        if (!fd) return tl::unexpected(fd.error());
        text_fd = std::move(*fd);
        input_fd = text_fd.get();
    }
    // Read both descriptors' flags before changing either: stdin and stdout are often one
    // terminal (one open file description), and the guards restore in reverse order.
    const int input_flags = input_fd >= 0 ? ::fcntl(input_fd, F_GETFL) : -1;
    if (input_flags < 0) input_fd = -1; // stdin closed: behave as if it were empty
    const int output_flags = ::fcntl(options.output_fd, F_GETFL);
    if (output_flags < 0) {
        const int err = errno;
        return fail(ErrorKind::file_io,
                    fmt::format("standard output is not usable: {}", errno_text(err)));
    }

    auto connection = open_connection(options, observer);
    if (!connection) return tl::unexpected(connection.error());
    SockAddr peer;
    peer.length = sizeof peer.storage;
    if (::getpeername(connection->fd.get(), peer.get(), &peer.length) != 0) peer = connection->peer;
    std::string peer_name = format_sockaddr(peer);
    if (options.endpoint.transport == Transport::unix_stream)
        peer_name = options.endpoint.display();
    observer.connected(peer_name);

    std::optional<FlagsGuard> input_guard;
    if (input_fd >= 0 && !text_fd) {
        auto set = set_nonblocking(input_fd);
        if (!set) return tl::unexpected(set.error());
        input_guard.emplace(input_fd, input_flags);
    }
    std::optional<FlagsGuard> output_guard;
    {
        auto set = set_nonblocking(options.output_fd);
        if (!set) return tl::unexpected(set.error());
        output_guard.emplace(options.output_fd, output_flags);
    }

    RelaySettings relay;
    relay.input_fd = input_fd;
    relay.output_fd = options.output_fd;
    relay.datagram = options.endpoint.transport == Transport::udp;
    relay.idle_timeout = options.idle_timeout;
    relay.max_bytes = options.max_bytes;
    relay.crlf = options.crlf;
    relay.hexdump = hexdump ? &*hexdump : nullptr;
    relay.peer_name = peer_name;
    return relay_connection(connection->fd.get(), relay);
}

} // namespace nettool
