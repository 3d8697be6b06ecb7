// serve's connection: the PROXY protocol header read before the mode starts
// (--accept-proxy) and the forwarder's connect to its target (--to, and --to-tls's handshake),
// all on the event loop.
#include "serve_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <nettool/proxy_header.hpp>
#include <sys/socket.h>

namespace nettool::serve_detail {

void Connection::on_header_ready() {
    if (done() || !m_header_until) return;
    read_header();
    if (m_header_until || done()) return;
    // The header is in: the carried address decides from here on.
    m_loop.remove(m_socket.get());
    m_header_watching = false;
    const auto& options = m_context.options;
    if (!options.access.permits(m_info.peer)) {
        m_context.observer.denied(m_info);
        m_ended_early = true;
        return;
    }
    if (m_context.tls != nullptr) {
        if (auto s = start_tls(); !s) fail_early(s.error());
        return;
    }
    m_context.observer.connection(m_info);
    m_announced = true;
    if (auto s = begin(); !s) fail_early(s.error());
}

// --tls: the handshake runs on the loop (after the PROXY header, which comes in plain text);
// after_tls_step() starts the mode once it is done.
Status Connection::start_tls() {
    auto session = m_context.tls->session(m_socket.get(), peer_name(m_info));
    if (!session) return tl::unexpected(session.error());
    m_tls_local = SocketAddress::local_of(m_socket.get());
    TlsBridge::Settings settings;
    settings.peer_name = peer_name(m_info);
    settings.handshake_timeout = k_tls_handshake_wait;
    auto bridge = TlsBridge::create(m_loop, std::move(m_socket), std::move(*session),
                                    std::move(settings), [this] { changed(); });
    if (!bridge) return tl::unexpected(bridge.error());
    m_bridge = std::move(*bridge);
    m_socket = m_bridge->take_plain_end();
    m_bridge->start();
    after_tls_step();
    return {};
}

// After every event: the handshake's end starts the mode (and announces the connection, with
// the client's certificate); the mode's end releases the bridge.
void Connection::after_tls_step() {
    if (!m_bridge || m_ended_early) return;
    if (!m_mode_started) {
        if (m_bridge->handshake_done()) {
            m_mode_started = true;
            const tls::PeerInfo peer = m_bridge->peer();
            m_info.tls_protocol = peer.protocol;
            m_info.tls_cipher = peer.cipher;
            m_info.peer_subject = peer.subject;
            m_info.peer_issuer = peer.issuer;
            m_context.observer.connection(m_info);
            m_announced = true;
            if (auto s = begin(); !s) {
                fail_early(s.error());
                return;
            }
        } else if (m_bridge->done()) {
            fail_early(m_bridge->result().error());
            return;
        } else {
            return;
        }
    }
    if (!m_released && mode_done()) {
        stop_writer();
        m_socket.reset(); // the bridge reads what the mode wrote, then end-of-file
        m_released = true;
        m_bridge->release();
    }
}

// Peeks at what arrived and consumes only what is surely header, so the client's first bytes
// stay in the socket for the mode (see proxy_header.hpp).
void Connection::read_header() {
    const std::size_t have = m_header.size();
    m_header.resize(k_proxy_v2_max);
    ssize_t n;
    do {
        n = ::recv(m_socket.get(), m_header.data() + have, m_header.size() - have,
                   MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    m_header.resize(have + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    const auto who = fmt::format("closing the connection from {}", peer_name(m_info));
    if (n < 0) {
        if (errno == EAGAIN) return;
        const int err = errno;
        fail_early(
            Error{kind_of_socket_errno(err), fmt::format("{}: {}", who, errno_text(err)), err, 0});
        return;
    }
    if (n == 0) {
        fail_early(Error{ErrorKind::protocol,
                         fmt::format("{}: it closed before sending a complete PROXY protocol "
                                     "header ({} bytes of it)",
                                     who, have)});
        return;
    }
    auto scan = scan_proxy_header(m_header);
    if (!scan) {
        fail_early(Error{ErrorKind::protocol, fmt::format("{}: {}", who, scan.error().message)});
        return;
    }
    const std::size_t header_end = scan->header ? scan->header->length : scan->header_bytes;
    char scratch[k_proxy_v2_max];
    for (std::size_t left = header_end - have; left > 0;) {
        const ssize_t got = ::recv(m_socket.get(), scratch, left, MSG_DONTWAIT);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) { // the peeked bytes are queued: only a reset takes them away
            fail_early(Error{ErrorKind::network, fmt::format("{}: reset while its PROXY "
                                                             "protocol header was read",
                                                             who)});
            return;
        }
        left -= static_cast<std::size_t>(got);
    }
    m_header.resize(header_end);
    if (!scan->header) return; // more to come
    m_header_until.reset();
    m_header.clear();
    m_header.shrink_to_fit();
    if (scan->header->source) {
        m_info.peer = *scan->header->source;
        m_info.transport = Transport::tcp; // the carried connection's, even on a Unix listener
        m_info.peer_pid = 0;
        m_carried_destination = scan->header->destination;
    }
}

void Connection::fail_early(Error error) {
    if (m_ended_early) return;
    m_ended_early = true;
    m_header_until.reset();
    m_early_status = tl::unexpected(std::move(error));
}

Status Connection::start_forward() {
    m_connector =
        std::make_unique<TargetConnector>(m_loop, *m_context.targets, [this] { changed(); });
    m_connector->start();
    if (m_connector->done()) finish_connect();
    return {};
}

// The target took the connection (or none did): send the PROXY header, then (--to-tls) the
// TLS handshake, then relay both ways.
void Connection::finish_connect() {
    auto connected = m_connector->take();
    const ForwardTarget* target = m_connector->winner();
    m_connector.reset();
    const auto who = fmt::format("forwarding the connection from {}", peer_name(m_info));
    if (!connected) {
        connected.error().message = fmt::format("{}: {}", who, connected.error().message);
        fail_early(std::move(connected.error()));
        return;
    }
    m_target = std::move(connected->fd);
    m_info.target = connected->peer;
    m_target_name = connected->peer.display();
    if (const auto version = m_context.options.send_proxy) {
        // On the TCP connection, before any TLS (HAProxy's order): the target reads the
        // client's address before its handshake.
        const SocketAddress destination = m_carried_destination ? *m_carried_destination
                                          : m_tls_local         ? *m_tls_local
                                                        : SocketAddress::local_of(m_socket.get());
        const std::string header = format_proxy_header(*version, m_info.peer, destination);
        // A new connection's send buffer is empty: the few bytes go in one send.
        const ssize_t sent = ::send(m_target.get(), header.data(), header.size(), MSG_NOSIGNAL);
        if (sent != static_cast<ssize_t>(header.size())) {
            const int err = sent < 0 ? errno : EAGAIN;
            fail_early(Error{kind_of_socket_errno(err),
                             fmt::format("{}: sending the PROXY header to {}: {}", who,
                                         m_target_name, errno_text(err)),
                             err, 0});
            return;
        }
    }
    if (target != nullptr && target->tls) {
        // Named as written: that is the name the certificate must be for.
        m_target_name = target->name;
        if (auto s = start_target_tls(*target->tls); !s) {
            s.error().message = fmt::format("{}: {}", who, s.error().message);
            fail_early(std::move(s.error()));
        }
        return; // the relay starts once the handshake is done
    }
    start_forward_relay();
}

// --to-tls: the target's handshake on the loop, within the same limit a client's has.
Status Connection::start_target_tls(const tls::Context& context) {
    auto session = context.session(m_target.get(), m_target_name);
    if (!session) return tl::unexpected(session.error());
    TlsBridge::Settings settings;
    settings.peer_name = m_target_name;
    settings.handshake_timeout = k_tls_handshake_wait;
    auto bridge = TlsBridge::create(m_loop, std::move(m_target), std::move(*session),
                                    std::move(settings), [this] { changed(); });
    if (!bridge) return tl::unexpected(bridge.error());
    m_target_bridge = std::move(*bridge);
    m_target = m_target_bridge->take_plain_end();
    m_target_bridge->start();
    after_target_tls_step();
    return {};
}

// After every event: the target's handshake done starts the relay; a failed one ends the
// client's connection (the next target is not tried: see nettool-serve(1), FORWARDING); the
// relay's end releases the bridge, which sends the rest and close_notify.
void Connection::after_target_tls_step() {
    if (!m_target_bridge || m_ended_early) return;
    if (!m_relay) {
        // (A target may send data and fail, a truncation, within the step that ended its
        // handshake: start_forward_relay() says so rather than relaying an end of data.)
        if (m_target_bridge->handshake_done()) {
            start_forward_relay();
        } else if (m_target_bridge->done()) {
            Error error = m_target_bridge->result().error();
            error.message = fmt::format("forwarding the connection from {}: {}", peer_name(m_info),
                                        error.message);
            fail_early(std::move(error));
        }
        return;
    }
    if (!m_target_released && m_relay->done()) {
        m_target.reset(); // the bridge reads what the relay wrote, then end-of-file
        m_target_released = true;
        m_target_bridge->release();
    }
}

void Connection::start_forward_relay() {
    // A bridge that failed already (its peer's data truncated, or reset) left only an end of
    // data in its plaintext end, which the relay would pass on as a clean end: both sides are
    // reset instead (see the destructor), and its failure is the outcome.
    for (const TlsBridge* bridge : {m_bridge.get(), m_target_bridge.get()}) {
        if (bridge != nullptr && !bridge->result()) {
            fail_early(bridge->result().error());
            return;
        }
    }
    Pump::Options from;
    from.source_name = fmt::format("the connection from {}", peer_name(m_info));
    from.sink_name = fmt::format("the connection to {}", m_target_name);
    Pump::Options to;
    to.source_name = fmt::format("the connection from {}", m_target_name);
    to.sink_name = fmt::format("the connection to {}", peer_name(m_info));
    // Each end of data becomes a shutdown(SHUT_WR) of the other socket: half-close per way.
    auto from_peer = open_channel(m_socket.get(), m_target.get(), std::move(from));
    auto to_peer = from_peer ? open_channel(m_target.get(), m_socket.get(), std::move(to))
                             : tl::unexpected(from_peer.error());
    if (!to_peer) {
        fail_early(std::move(to_peer.error()));
        return;
    }
    Relay::Settings settings;
    settings.peer_fd = m_socket.get();
    settings.peer_name = peer_name(m_info);
    settings.from_peer = std::move(*from_peer);
    settings.to_peer = std::move(*to_peer);
    settings.output_at_end = Relay::OutputAtEnd::channel;
    m_relay = std::make_unique<Relay>(m_loop, std::move(settings), [this] { changed(); });
    m_relay->start();
}

} // namespace nettool::serve_detail
