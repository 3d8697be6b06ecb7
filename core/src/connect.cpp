#include "connect_relay.hpp"
#include "duration_text.hpp"
#include "util/fd.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/connect.hpp>
#include <nettool/hexdump.hpp>
#include <nettool/pump.hpp>
#include <nettool/stop.hpp>
#include <sys/mman.h>
#include <unistd.h>

namespace nettool {
namespace {

using std::chrono::milliseconds;

Result<std::vector<SocketAddress>> candidates_for(const ConnectOptions& options) {
    const Endpoint& ep = options.endpoint;
    if (ep.transport == Transport::unix_stream)
        return std::vector<SocketAddress>{SocketAddress::unix_socket(ep)};
    auto resolved = resolve(ep.host, ep.port, ep.transport, options.family);
    if (!resolved) return resolved;
    std::vector<SocketAddress> list = interleave_families(*resolved);
    if (options.source && options.source->address) {
        const int family = options.source->address->family();
        std::erase_if(list, [&](const SocketAddress& a) { return a.family() != family; });
        if (list.empty()) {
            return fail(
                ErrorKind::network,
                fmt::format("'{}' has no {} address to match the source address {}; choose a "
                            "source of the other family",
                            ep.host, family == AF_INET ? "IPv4" : "IPv6",
                            options.source->address->host()));
        }
    }
    return list;
}

// --send TEXT becomes a memory file: always readable, ends where the text ends, and the
// relay treats it like any other input.
Result<UniqueFd> text_as_fd(const std::string& text) {
    UniqueFd fd(::memfd_create("nettool-send", MFD_CLOEXEC));
    if (!fd) {
        const int err = errno;
        return fail(ErrorKind::generic,
                    fmt::format("cannot hold the --send text: {}", errno_text(err)));
    }
    if (auto written = util::write_all(fd.get(), text, "the --send text"); !written)
        return tl::unexpected(written.error());
    ::lseek(fd.get(), 0, SEEK_SET);
    return fd;
}

} // namespace

Result<Connected> open_connection(const ConnectOptions& options, ConnectObserver& observer) {
    const auto started = Clock::now();
    const auto give_up = options.wait ? started + *options.wait : started;
    for (int attempt = 1;; ++attempt) {
        auto candidates = candidates_for(options);
        if (!candidates) return tl::unexpected(candidates.error());
        Race::Settings settings;
        settings.socktype = options.endpoint.transport == Transport::udp ? SOCK_DGRAM : SOCK_STREAM;
        if (options.endpoint.transport != Transport::unix_stream) settings.source = options.source;
        settings.timeout = options.timeout;
        if (options.wait)
            settings.timeout =
                std::clamp(util::time_left(give_up), milliseconds{1}, options.timeout);
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
        const milliseconds left = util::time_left(give_up);
        if (left.count() == 0) {
            failure.error.message += fmt::format(" (kept trying for {}, {} attempts)",
                                                 duration_text(*options.wait), attempt);
            return tl::unexpected(std::move(failure.error));
        }
        const milliseconds delay = std::min(
            util::exponential_backoff(k_wait_first_backoff, k_wait_max_backoff, attempt), left);
        observer.retrying(failure.error, delay, left);
        if (!util::sleep_unless_stopped(delay)) return fail(ErrorKind::interrupted, "");
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
    SocketAddress peer = SocketAddress::peer_of(connection->fd.get());
    if (peer.empty()) peer = connection->peer;
    // A unix peer is named as the user wrote it (getpeername of an abstract socket is binary).
    const std::string peer_name = options.endpoint.transport == Transport::unix_stream
                                      ? options.endpoint.display()
                                      : peer.display();
    observer.connected(peer_name);

    std::optional<util::FlagsGuard> input_guard;
    if (input_fd >= 0 && !text_fd) {
        auto set = util::set_nonblocking(input_fd);
        if (!set) return tl::unexpected(set.error());
        input_guard.emplace(input_fd, input_flags);
    }
    std::optional<util::FlagsGuard> output_guard;
    {
        auto set = util::set_nonblocking(options.output_fd);
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
