#include "serve_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

namespace nettool::serve_detail {
namespace {

constexpr auto k_linger = std::chrono::seconds(2);
// The most an echo connection reads at once, and holds while its client does not read (its
// buffer exists only then: see pump.hpp). Exec and the relay splice, holding none.
constexpr std::size_t k_echo_buffer = 64 * 1024;

} // namespace

std::string peer_name(const ConnectionInfo& info) {
    if (!info.peer.empty() && info.transport != Transport::unix_stream) return info.peer.display();
    return info.peer_pid > 0 ? fmt::format("the client (pid {}) on {}", info.peer_pid, info.where)
                             : fmt::format("the client on {}", info.where);
}

Connection::Connection(ServeContext& context, EventLoop& loop, UniqueFd socket, ConnectionInfo info,
                       std::function<void()> changed)
    : m_context(context), m_loop(loop), m_socket(std::move(socket)), m_info(std::move(info)),
      m_changed(std::move(changed)) {}

Connection::~Connection() {
    // A forwarded connection that failed (a reset on either side, no target) is reset on the
    // other side too, so that neither end mistakes it for a clean end of data.
    const bool failed = !m_early_status || (m_relay && !m_relay->result()) || bridge_failed();
    if (failed && m_context.options.mode == ServeMode::forward) {
        const linger reset{1, 0};
        ::setsockopt(m_socket.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        const int target = m_target_bridge ? m_target_bridge->socket_fd() : m_target.get();
        if (target >= 0) ::setsockopt(target, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    m_relay.reset(); // it unwatches its descriptors while they are still open
    m_target_bridge.reset();
    m_connector.reset();
    if (m_header_watching) m_loop.remove(m_socket.get());
    stop_writer();
    m_bridge.reset();
}

Status Connection::start() {
    if (!m_context.options.accept_proxy) {
        if (m_context.tls != nullptr) return start_tls();
        m_announced = true; // the server checked the access rules and said so
        return begin();
    }
    m_header_until = Clock::now() + k_header_wait;
    auto watched = m_loop.add(m_socket.get(), io::readable, [this](std::uint32_t) {
        on_header_ready();
        changed();
    });
    if (!watched) return watched;
    m_header_watching = true;
    return {};
}

Status Connection::begin() {
    const auto& options = m_context.options;
    switch (options.mode) {
    case ServeMode::forward:
        return start_forward();
    case ServeMode::relay:
        return start_relay();
    case ServeMode::exec:
    case ServeMode::sh_exec:
        return start_exec();
    case ServeMode::echo: {
        Pump::Options o;
        o.source_name = fmt::format("the connection from {}", peer_name(m_info));
        o.sink_name = fmt::format("the connection to {}", peer_name(m_info));
        o.buffer_size = k_echo_buffer;
        o.at_end = Pump::Options::AtEnd::half_close_socket; // the peer's FIN comes back
        auto channel = open_channel(m_socket.get(), m_socket.get(), std::move(o), Splice::never);
        if (!channel) return tl::unexpected(channel.error());
        Relay::Settings settings;
        settings.peer_fd = m_socket.get();
        settings.peer_name = peer_name(m_info);
        settings.from_peer = std::move(*channel);
        settings.output_at_end = Relay::OutputAtEnd::channel;
        m_relay = std::make_unique<Relay>(m_loop, std::move(settings), [this] { changed(); });
        m_relay->start();
        return {};
    }
    case ServeMode::greet:
    case ServeMode::send_file:
        break;
    }
    // One write usually sends it all and the connection is done before the loop ever hears
    // of it; it is watched only to wait for room, or for a talking client to close.
    step_writer();
    if (done()) return {};
    auto watched = m_loop.add(m_socket.get(), 0, [this](std::uint32_t) {
        on_writer_ready();
        changed();
    });
    if (!watched) return watched;
    m_writer_watching = true;
    update_writer_interest();
    return {};
}

Status Connection::start_relay() {
    const auto& options = m_context.options;
    Pump::Options from;
    from.source_name = fmt::format("the connection from {}", peer_name(m_info));
    from.sink_name = "standard output";
    from.at_end = Pump::Options::AtEnd::nothing; // the relay lets go of standard output
    from.lazy_discard = !options.idle_timeout;   // an idle timeout needs every byte seen
    auto channel = open_channel(m_socket.get(), options.output_fd, std::move(from));
    if (!channel) return tl::unexpected(channel.error());
    Relay::Settings settings;
    settings.peer_fd = m_socket.get();
    settings.peer_name = peer_name(m_info);
    settings.from_peer = std::move(*channel);
    if (m_context.input_open) {
        Pump::Options to;
        to.source_name = "standard input";
        to.sink_name = fmt::format("the connection to {}", peer_name(m_info));
        auto input = open_channel(options.input_fd, m_socket.get(), std::move(to));
        if (!input) return tl::unexpected(input.error());
        settings.to_peer = std::move(*input);
        settings.peer_end_ends_relay = ::isatty(options.input_fd) == 1;
    } else {
        ::shutdown(m_socket.get(), SHUT_WR); // nothing to send: say so at once
    }
    // With -k standard output carries every client's data in turn, so it stays open; a
    // single client's end of data is the end of standard output.
    settings.output_at_end =
        options.keep_open ? Relay::OutputAtEnd::keep : Relay::OutputAtEnd::release;
    settings.output_guard = &m_context.output_guard;
    m_relay = std::make_unique<Relay>(m_loop, std::move(settings), [this] { changed(); });
    m_relay->start();
    return {};
}

Status Connection::start_exec() {
    const auto& options = m_context.options;
    ChildProcess::Spec spec;
    spec.argv = options.mode == ServeMode::exec
                    ? split_command(options.command)
                    : std::vector<std::string>{"/bin/sh", "-c", options.command};
    if (m_info.transport == Transport::unix_stream) {
        spec.extra_env = {{"NETTOOL_PEER_ADDR", "unix:" + m_info.where},
                          {"NETTOOL_PEER_PID", std::to_string(m_info.peer_pid)}};
    } else {
        spec.extra_env = {{"NETTOOL_PEER_ADDR", m_info.peer.host()},
                          {"NETTOOL_PEER_PORT", std::to_string(m_info.peer.port())}};
    }
    // --client-ca: who the client proved to be.
    if (!m_info.peer_subject.empty())
        spec.extra_env.emplace_back("NETTOOL_PEER_CERT", m_info.peer_subject);
    auto child = ChildProcess::spawn(spec);
    if (!child) return tl::unexpected(child.error());
    Relay::Settings settings;
    settings.owned_output = std::move(child->stdin_pipe());
    settings.owned_input = std::move(child->stdout_pipe());
    m_child.emplace(std::move(*child));

    Pump::Options from;
    from.source_name = fmt::format("the connection from {}", peer_name(m_info));
    from.sink_name = fmt::format("the standard input of '{}'", spec.argv[0]);
    from.at_end = Pump::Options::AtEnd::nothing; // the relay closes it: the child sees EOF
    Pump::Options to;
    to.source_name = fmt::format("the standard output of '{}'", spec.argv[0]);
    to.sink_name = fmt::format("the connection to {}", peer_name(m_info));
    settings.peer_fd = m_socket.get();
    settings.peer_name = peer_name(m_info);
    // The child's ends are pipes: both directions splice straight, with no buffer.
    auto from_peer = open_channel(m_socket.get(), settings.owned_output.get(), std::move(from));
    if (!from_peer) return tl::unexpected(from_peer.error());
    auto to_peer = open_channel(settings.owned_input.get(), m_socket.get(), std::move(to));
    if (!to_peer) return tl::unexpected(to_peer.error());
    settings.from_peer = std::move(*from_peer);
    settings.to_peer = std::move(*to_peer);
    settings.output_at_end = Relay::OutputAtEnd::close;
    // A child that stops reading its stdin is its own business, not an error worth a line.
    settings.output_may_leave = true;
    m_relay = std::make_unique<Relay>(m_loop, std::move(settings), [this] { changed(); });
    m_relay->start();
    return {};
}

bool Connection::done() const {
    if (!m_bridge) return mode_done();
    if (m_ended_early || m_aborted) return true;
    return m_released && m_bridge->done();
}

bool Connection::mode_done() const {
    if (m_ended_early) return true;
    if (m_header_until || m_connector) return m_aborted;
    // --to-tls: the target's handshake, then its bridge's last bytes and close_notify.
    const bool target_done =
        !m_target_bridge || m_aborted || (m_target_released && m_target_bridge->done());
    if (m_relay) return m_relay->done() && target_done;
    if (m_target_bridge) return m_aborted;
    return m_aborted || (m_writer_done && !m_linger_until);
}

Status Connection::outcome() const {
    if (!m_early_status) return m_early_status;
    // A reset, a truncation or a TLS error: the mode saw only an end of data.
    if (m_bridge && !m_bridge->result()) return m_bridge->result();
    if (m_target_bridge && !m_target_bridge->result()) return m_target_bridge->result();
    return m_relay ? m_relay->result() : m_writer_status;
}

std::uint64_t Connection::moved() const {
    return m_relay ? m_relay->moved() : m_sent + m_discarded;
}

void Connection::on_writer_ready() {
    if (done()) return;
    step_writer();
    if (done()) {
        stop_writer();
        return;
    }
    update_writer_interest();
}

void Connection::step_writer() {
    const int fd = m_socket.get();
    const std::string& text = m_context.options.greeting;
    while (!m_writer_done) {
        ssize_t n = 0;
        if (m_context.options.mode == ServeMode::greet) {
            if (m_text_sent == text.size()) break;
            n = ::send(fd, text.data() + m_text_sent, text.size() - m_text_sent, MSG_NOSIGNAL);
            if (n > 0) m_text_sent += static_cast<std::size_t>(n);
        } else {
            n = ::sendfile(fd, m_context.file, &m_file_offset, 1 << 20); // zero-copy
            if (n == 0) break;                                           // end of file
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return; // wait for room
            const int err = errno;
            m_writer_status =
                fail_errno(kind_of_socket_errno(err), err,
                           fmt::format("send to {}: {}", peer_name(m_info), errno_text(err)));
            m_writer_done = true;
            return;
        }
        m_sent += static_cast<std::uint64_t>(n);
    }
    if (!m_writer_done) {
        m_writer_done = true;
        // Bytes from the client left unread would make close() send a reset, which can
        // destroy the greeting before the client has read it. A client that sent nothing is
        // closed at once (our FIN follows the data); one that talks gets our FIN now and a
        // short linger that reads and discards until it closes. (A client that starts
        // sending only after the close gets a reset: it was told all there was.)
        const std::uint64_t before = m_discarded;
        if (!discard_input() && m_discarded != before) {
            ::shutdown(fd, SHUT_WR);
            m_linger_until = Clock::now() + k_linger;
        }
        return;
    }
    if (m_linger_until && discard_input()) m_linger_until.reset();
}

// Reads and drops what the client sent; true once it closed (or the connection failed).
// Bounded: a client that keeps sending is read again on the next turn of the loop.
bool Connection::discard_input() {
    char buffer[16384];
    for (int reads = 0; reads < 64; ++reads) {
        const ssize_t n = ::recv(m_socket.get(), buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            m_discarded += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return !(n < 0 && errno == EAGAIN);
    }
    return false;
}

void Connection::update_writer_interest() {
    const std::uint32_t events =
        !m_writer_done ? io::writable : (m_linger_until ? io::readable : 0);
    if (auto s = m_loop.set_events(m_socket.get(), events); !s) {
        m_writer_status = std::move(s);
        abort();
    }
}

void Connection::stop_writer() {
    if (!m_writer_watching) return;
    m_loop.remove(m_socket.get());
    m_writer_watching = false;
}

std::optional<Clock::time_point> Connection::deadline() const {
    if (done()) return std::nullopt;
    std::optional<Clock::time_point> when = m_linger_until;
    const auto earliest = [&](std::optional<Clock::time_point> t) {
        if (t && (!when || *t < *when)) when = t;
    };
    earliest(m_header_until);
    if (m_connector) earliest(m_connector->deadline());
    if (m_bridge) earliest(m_bridge->deadline());
    if (m_target_bridge) earliest(m_target_bridge->deadline());
    if (const auto& idle = m_context.options.idle_timeout) {
        const auto idle_at = m_last_activity + *idle;
        if (!when || idle_at < *when) when = idle_at;
    }
    return when;
}

bool Connection::bridge_failed() const {
    return (m_bridge && !m_bridge->result()) || (m_target_bridge && !m_target_bridge->result());
}

// After every event: the idle timeout counts from the last byte moved.
void Connection::changed() {
    if (m_connector && m_connector->done()) finish_connect();
    // A bridge's failure (a reset, a truncation, a TLS error) reaches the relay as an end of
    // data; a forward must not pass it on as a clean end (a FIN): it stops here, before the
    // relay reads that end, and both sides are reset (see the destructor).
    if (m_relay && !m_relay->done() && bridge_failed() &&
        m_context.options.mode == ServeMode::forward)
        m_relay->abort();
    after_target_tls_step();
    after_tls_step();
    if (m_context.options.idle_timeout) {
        if (const auto total = moved(); total != m_moved) {
            m_moved = total;
            m_last_activity = Clock::now();
        }
    }
    m_changed();
}

void Connection::on_deadline(Clock::time_point now) {
    if (done()) return;
    if (const auto total = moved(); total != m_moved) { // activity since the last look
        m_moved = total;
        m_last_activity = now;
    }
    if (m_header_until && now >= *m_header_until) {
        fail_early(Error{ErrorKind::protocol,
                         fmt::format("closing the connection from {}: no complete PROXY "
                                     "protocol header within {} s",
                                     peer_name(m_info), k_header_wait.count())});
        return;
    }
    if (m_connector) {
        m_connector->on_deadline(now);
        if (m_connector->done()) finish_connect();
        if (done()) return;
    }
    if (m_target_bridge) {
        m_target_bridge->on_deadline(now);
        after_target_tls_step();
        after_tls_step();
        if (done()) return;
    }
    if (m_bridge) {
        m_bridge->on_deadline(now);
        after_tls_step();
        if (done()) return;
    }
    if (m_linger_until && now >= *m_linger_until) {
        m_linger_until.reset();
        if (m_writer_done) {
            stop_writer();
            return;
        }
    }
    if (const auto& idle = m_context.options.idle_timeout; idle && now >= m_last_activity + *idle) {
        m_context.observer.note(fmt::format("closing the connection from {}: idle for {} ms",
                                            peer_name(m_info), idle->count()));
        abort();
    }
}

void Connection::abort() {
    m_aborted = true;
    if (m_relay) m_relay->abort();
    stop_writer();
    if (m_target_bridge) m_target_bridge->abort();
    if (m_bridge) m_bridge->abort();
}

std::optional<ChildProcess> Connection::take_child() {
    auto child = std::move(m_child);
    m_child.reset();
    return child;
}

ConnectionInfo Connection::info() const {
    ConnectionInfo info = m_info;
    if (m_relay) {
        info.bytes_in = m_relay->bytes_from_peer();
        info.bytes_out = m_relay->bytes_to_peer();
    } else {
        info.bytes_in = m_discarded;
        info.bytes_out = m_sent;
    }
    info.seconds = seconds_since(m_started);
    return info;
}

} // namespace nettool::serve_detail
