#include "duration_text.hpp"
#include "relay.hpp"
#include "tls_bridge.hpp"
#include "util/check.hpp"
#include "util/fd.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/connect.hpp>
#include <nettool/crlf.hpp>
#include <nettool/event_loop.hpp>
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

// The largest payload of one UDP datagram over IPv4/IPv6 without jumbograms.
constexpr std::size_t k_max_datagram = 65507;

struct RelayPlan {
    int socket_fd = -1;
    int input_fd = -1; // -1: nothing to send (the write side is shut down at once)
    int output_fd = 1;
    std::optional<util::FlagsGuard>* output_guard = nullptr;
    bool datagram = false;
    std::optional<milliseconds> idle_timeout;
    std::optional<std::uint64_t> max_bytes;
    bool crlf = false;
    HexDump* hexdump = nullptr;
    std::string peer_name;
    // --tls: socket_fd is the bridge's plaintext end (owned here, closed once the relay is
    // done); the bridge then sends what is left and close_notify.
    TlsBridge* bridge = nullptr;
    UniqueFd* plain_end = nullptr;
};

Pump::Options input_options(const RelayPlan& plan) {
    HexDump* const dump = plan.hexdump;
    Pump::Options o;
    o.buffer_size = plan.datagram ? k_max_datagram : 256 * 1024;
    if (dump != nullptr) o.observe = [dump](std::span<const char> chunk) { dump->sent(chunk); };
    if (plan.crlf) {
        // Dumped after the transform, so the dump shows what went on the wire.
        o.observe = nullptr;
        o.transform = [dump, previous = '\0'](std::span<const char> in, std::string& out) mutable {
            const std::size_t before = out.size();
            crlf_transform(in, out, previous);
            if (dump != nullptr)
                dump->sent(std::span<const char>(out.data() + before, out.size() - before));
        };
    }
    o.at_end =
        plan.datagram ? Pump::Options::AtEnd::nothing : Pump::Options::AtEnd::half_close_socket;
    o.source_name = "standard input";
    o.sink_name = plan.peer_name;
    return o;
}

// How a TLS connection ended: the bridge's failure first (a reset, a truncation, a TLS error:
// the relay then saw only an end of data), else the relay's outcome.
Status with_bridge(Status relay_result, const TlsBridge* bridge) {
    if (bridge != nullptr && !bridge->result()) return bridge->result();
    return relay_result;
}

// --tls: the handshake on the loop, within the connect timeout (the bridge's deadline).
Status run_handshake(EventLoop& loop, TlsBridge& bridge) {
    bridge.start();
    while (!bridge.handshake_done() && !bridge.done()) {
        std::optional<milliseconds> timeout;
        if (const auto due = bridge.deadline())
            timeout =
                std::max(std::chrono::ceil<milliseconds>(*due - Clock::now()), milliseconds(0));
        if (auto s = loop.run_once(timeout); !s) return s;
        if (stop_requested()) return fail(ErrorKind::interrupted, "");
        bridge.on_deadline(Clock::now());
    }
    // A failure after the handshake (a truncation, a reset) comes after the data that arrived
    // before it, which the relay still delivers: the outcome then says it.
    if (bridge.handshake_done()) return {};
    return bridge.result();
}

// Runs the shared relay (core/src/relay.hpp) on `loop`, with connect's timing rules:
// --idle-timeout, and for UDP the wait for replies once the input has ended.
Status run_relay(const RelayPlan& plan, EventLoop* loop) {
    HexDump* const dump = plan.hexdump;
    TlsBridge* const bridge = plan.bridge;

    Relay::Settings settings;
    settings.peer_fd = plan.socket_fd;
    settings.peer_name = plan.peer_name;
    settings.datagram = plan.datagram;
    Pump::Options down;
    down.limit = plan.max_bytes;
    if (dump != nullptr)
        down.observe = [dump](std::span<const char> chunk) { dump->received(chunk); };
    down.at_end = Pump::Options::AtEnd::nothing; // the relay releases standard output
    down.source_name = plan.peer_name;
    down.sink_name = "standard output";
    down.lazy_discard = !plan.idle_timeout; // an idle timeout needs every byte seen
    // splice(2) where both ends allow it (never for UDP, whose datagrams keep their bounds).
    auto from_peer = open_channel(plan.socket_fd, plan.output_fd, std::move(down));
    if (!from_peer) return tl::unexpected(from_peer.error());
    settings.from_peer = std::move(*from_peer);
    if (plan.input_fd >= 0) {
        auto to_peer = open_channel(plan.input_fd, plan.socket_fd, input_options(plan));
        if (!to_peer) return tl::unexpected(to_peer.error());
        settings.to_peer = std::move(*to_peer);
    } else if (!plan.datagram) {
        ::shutdown(plan.socket_fd, SHUT_WR);
    }
    settings.output_at_end = Relay::OutputAtEnd::release;
    settings.output_guard = plan.output_guard;
    // A person at a terminal is done when the server is (nc's habit); --max-bytes is the
    // essay's recv(N)-then-close: either way the peer's end ends the connection.
    // UDP has no FIN: an empty datagram is the only end the peer can signal.
    settings.peer_end_ends_relay = (plan.input_fd >= 0 && ::isatty(plan.input_fd) == 1) ||
                                   plan.max_bytes.has_value() || plan.datagram;
    Relay relay(*loop, std::move(settings), nullptr);
    if (stop_fd() >= 0) {
        auto watched = loop->add(stop_fd(), io::readable, [](std::uint32_t) {});
        if (!watched) return watched;
    }
    relay.start();

    auto last_activity = Clock::now();
    std::uint64_t moved = relay.moved();
    while (!relay.done() || (bridge != nullptr && !bridge->done())) {
        if (relay.done() && bridge != nullptr) {
            // The relay is done with the plaintext end: the bridge sends the rest, then
            // close_notify, and waits a moment for the server's end.
            if (plan.plain_end->get() >= 0) {
                plan.plain_end->reset();
                bridge->release();
                continue;
            }
            const auto due = bridge->deadline();
            const auto left = due ? std::max(std::chrono::ceil<milliseconds>(*due - Clock::now()),
                                             milliseconds(0))
                                  : milliseconds(1000);
            if (auto s = loop->run_once(left); !s) return s;
            if (stop_requested()) return {};
            bridge->on_deadline(Clock::now());
            continue;
        }
        // UDP has no end of stream: once the input is done, replies are awaited for a while.
        std::optional<milliseconds> quiet_limit = plan.idle_timeout;
        const bool awaiting_replies = plan.datagram && !relay.sending();
        if (awaiting_replies && !quiet_limit) quiet_limit = k_udp_reply_wait;
        std::optional<milliseconds> timeout;
        if (quiet_limit) {
            const auto left =
                std::chrono::ceil<milliseconds>(last_activity + *quiet_limit - Clock::now());
            if (left.count() <= 0) {
                if (awaiting_replies) break;
                relay.abort();
                if (bridge != nullptr) bridge->abort();
                return fail(ErrorKind::network,
                            fmt::format("connection to {} was idle for {}; closed it",
                                        plan.peer_name, duration_text(*quiet_limit)));
            }
            timeout = std::min(left, milliseconds(60'000));
        }
        if (auto s = loop->run_once(timeout); !s) return s;
        if (stop_requested()) {
            relay.abort();
            return {}; // cmd/ turns a SIGINT into exit 130
        }
        if (dump != nullptr && !dump->status()) return dump->status();
        if (relay.moved() != moved) {
            moved = relay.moved();
            last_activity = Clock::now();
        }
    }
    relay.abort();
    if (dump != nullptr && !dump->status()) return dump->status();
    return with_bridge(relay.result(), bridge);
}

http::IpFamily ip_family_of(Family family) {
    return family == Family::ipv4   ? http::IpFamily::v4
           : family == Family::ipv6 ? http::IpFamily::v6
                                    : http::IpFamily::any;
}

// --wait's loop around an attempt: `attempt(timeout)` connects or fails, telling whether a
// later try could help; failures are retried with backoff until the wait is over.
template <class Attempt>
Result<Connected> with_retries(const ConnectOptions& options, ConnectObserver& observer,
                               Attempt&& attempt) {
    const auto started = Clock::now();
    const auto give_up = options.wait ? started + *options.wait : started;
    std::optional<Error> previous;
    for (int tries = 1;; ++tries) {
        milliseconds timeout = options.timeout;
        if (options.wait)
            timeout = std::clamp(util::time_left(give_up), milliseconds{1}, options.timeout);
        auto result = attempt(timeout);
        if (result) return std::move(*result);
        RaceFailure failure = std::move(result.error());
        if (failure.error.kind == ErrorKind::interrupted || !options.wait || !failure.transient) {
            return tl::unexpected(std::move(failure.error));
        }
        const milliseconds left = util::time_left(give_up);
        if (left.count() == 0) {
            // An attempt the end of the wait cut short ("timed out after 1ms") says less than
            // the one before it.
            Error reported =
                timeout < options.timeout && previous ? *previous : std::move(failure.error);
            reported.message += fmt::format(" (kept trying for {}, {} attempts)",
                                            duration_text(*options.wait), tries);
            return tl::unexpected(std::move(reported));
        }
        previous = failure.error;
        const milliseconds delay = std::min(
            util::exponential_backoff(k_wait_first_backoff, k_wait_max_backoff, tries), left);
        observer.retrying(failure.error, delay, left);
        if (!util::sleep_unless_stopped(delay)) return fail(ErrorKind::interrupted, "");
    }
}

// The proxy resolves the target's name and connects to it; nettool only reaches the proxy.
tl::expected<Connected, RaceFailure> open_tunnel_once(const ConnectOptions& options,
                                                      milliseconds timeout) {
    http::TunnelRequest request;
    request.proxy = *options.proxy;
    request.host = options.endpoint.host;
    request.port = options.endpoint.port;
    request.timeout = timeout;
    request.ip_family = ip_family_of(options.family);
    auto tunnel = options.tunnels->open_tunnel(request);
    if (!tunnel) {
        RaceFailure failure;
        failure.error = std::move(tunnel.error().error);
        failure.transient = tunnel.error().transient;
        return tl::unexpected(std::move(failure));
    }
    Connected connected;
    connected.peer = SocketAddress::peer_of(tunnel->fd.get());
    connected.fd = std::move(tunnel->fd);
    connected.through_proxy =
        fmt::format("{} through the proxy {}", format_host_port(request.host, request.port),
                    tunnel->proxy_shown);
    if (!tunnel->proxy_address.empty())
        connected.through_proxy += fmt::format(" ({})", tunnel->proxy_address);
    return connected;
}

} // namespace

Result<Connected> open_connection(const ConnectOptions& options, ConnectObserver& observer) {
    if (options.proxy) {
        NETTOOL_CHECK(options.tunnels != nullptr && options.endpoint.transport == Transport::tcp &&
                      !options.source);
        return with_retries(options, observer, [&](milliseconds timeout) {
            return open_tunnel_once(options, timeout);
        });
    }
    return with_retries(
        options, observer, [&](milliseconds timeout) -> tl::expected<Connected, RaceFailure> {
            auto candidates = candidates_for(options);
            if (!candidates) return tl::unexpected(RaceFailure{candidates.error()});
            Race::Settings settings;
            settings.socktype =
                options.endpoint.transport == Transport::udp ? SOCK_DGRAM : SOCK_STREAM;
            if (options.endpoint.transport != Transport::unix_stream)
                settings.source = options.source;
            settings.timeout = timeout;
            settings.deadline = Clock::now() + settings.timeout;
            settings.name = options.endpoint.transport == Transport::unix_stream
                                ? options.endpoint.display()
                                : format_host_port(options.endpoint.host, options.endpoint.port);
            return run_race(std::move(*candidates), settings);
        });
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
    // stdin closed (or open for writing only): behave as if it were empty
    if (input_flags < 0 || (input_flags & O_ACCMODE) == O_WRONLY) input_fd = -1;
    const int output_flags = ::fcntl(options.output_fd, F_GETFL);
    if (output_flags < 0 || (output_flags & O_ACCMODE) == O_RDONLY) {
        return fail(ErrorKind::file_io,
                    "standard output is closed or not writable; the connection's data goes "
                    "there (redirect it, e.g. to a file or /dev/null)");
    }

    // --tls: the CA file and the client certificate are read (and the TLS library loaded)
    // before connecting, so that a missing file is an error before any packet is sent.
    // Through a proxy, TLS runs over the tunnel's socket and is checked against the target.
    std::optional<tls::Context> tls_context;
    if (options.tls) {
        NETTOOL_CHECK(options.endpoint.transport == Transport::tcp);
        auto made = tls::Context::client(*options.tls);
        if (!made) return tl::unexpected(made.error());
        tls_context.emplace(std::move(*made));
    }

    auto connection = open_connection(options, observer);
    if (!connection) return tl::unexpected(connection.error());
    SocketAddress peer = SocketAddress::peer_of(connection->fd.get());
    if (peer.empty()) peer = connection->peer;
    // A unix peer is named as the user wrote it (getpeername of an abstract socket is binary);
    // a proxied one as the target, since the socket's peer is the proxy.
    const std::string peer_name = !connection->through_proxy.empty() ? connection->through_proxy
                                  : options.endpoint.transport == Transport::unix_stream
                                      ? options.endpoint.display()
                                      : peer.display();
    observer.connected(peer_name);

    auto loop = EventLoop::create();
    if (!loop) return tl::unexpected(loop.error());
    std::unique_ptr<TlsBridge> bridge;
    UniqueFd plain_end;
    if (tls_context) {
        // Failures name the host as written, which is what the certificate is checked for;
        // through a proxy, also the proxy (which may be the one that closed or reset).
        const std::string host =
            !connection->through_proxy.empty()
                ? connection->through_proxy
                : format_host_port(options.endpoint.host, options.endpoint.port);
        auto session = tls_context->session(connection->fd.get(), host);
        if (!session) return tl::unexpected(session.error());
        TlsBridge::Settings settings;
        settings.peer_name = host;
        settings.handshake_timeout = options.timeout;
        // The relay ends before the server's data only to stop reading (--max-bytes, a
        // terminal): nothing to wait for then.
        settings.linger = milliseconds(0);
        auto made = TlsBridge::create(*loop, std::move(connection->fd), std::move(*session),
                                      std::move(settings), nullptr);
        if (!made) return tl::unexpected(made.error());
        bridge = std::move(*made);
        plain_end = bridge->take_plain_end();
        if (auto s = run_handshake(*loop, *bridge); !s) {
            if (s.error().kind == ErrorKind::interrupted) return {}; // cmd/ exits 130
            return s;
        }
        observer.tls_established(bridge->peer());
    }

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

    RelayPlan plan;
    plan.socket_fd = bridge ? plain_end.get() : connection->fd.get();
    plan.bridge = bridge.get();
    plan.plain_end = &plain_end;
    plan.input_fd = input_fd;
    plan.output_fd = options.output_fd;
    plan.output_guard = &output_guard;
    plan.datagram = options.endpoint.transport == Transport::udp;
    plan.idle_timeout = options.idle_timeout;
    plan.max_bytes = options.max_bytes;
    plan.crlf = options.crlf;
    plan.hexdump = hexdump ? &*hexdump : nullptr;
    plan.peer_name = peer_name;
    return run_relay(plan, &*loop);
}

} // namespace nettool
