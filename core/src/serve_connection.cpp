#include "serve_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

namespace nettool::serve_detail {
namespace {

constexpr auto k_linger = std::chrono::seconds(2);
// Per-direction buffers of echo and exec connections: many of those may be open at once.
// The relay (one connection at a time) keeps Pump's 256 KiB for bulk speed.
constexpr std::size_t k_small_buffer = 64 * 1024;

template <class P> std::unique_ptr<Channel> channel(P pump) {
    return std::make_unique<ChannelOf<P>>(std::move(pump));
}

std::string peer_name(const ConnectionInfo& info) {
    if (!info.peer.empty() && info.transport != Transport::unix_stream) return info.peer.display();
    return info.peer_pid > 0 ? fmt::format("the client (pid {}) on {}", info.peer_pid, info.where)
                             : fmt::format("the client on {}", info.where);
}

} // namespace

Connection::Connection(ServeContext& context, EventLoop& loop, UniqueFd socket, ConnectionInfo info,
                       std::function<void()> changed)
    : m_context(context), m_loop(loop), m_socket(std::move(socket)), m_info(std::move(info)),
      m_changed(std::move(changed)) {}

Connection::~Connection() {
    for (const int fd : m_watched)
        m_loop.remove(fd);
}

Status Connection::start() {
    const auto& options = m_context.options;
    const std::string peer = peer_name(m_info);
    Pump::Options from;
    from.source_name = fmt::format("the connection from {}", peer);
    Pump::Options to;
    to.sink_name = fmt::format("the connection to {}", peer);
    switch (options.mode) {
    case ServeMode::relay:
        from.sink_name = "standard output";
        from.at_end = Pump::Options::AtEnd::nothing; // stdout serves the next client too
        to.source_name = "standard input";
        // splice(2) keeps the bulk direction out of user space where stdout can take it.
        if (SplicePump::suitable_sink(options.output_fd)) {
            auto spliced = SplicePump::create(m_socket.get(), options.output_fd, from.source_name,
                                              from.sink_name);
            if (!spliced) return tl::unexpected(spliced.error());
            m_from_peer = channel(std::move(*spliced));
        } else {
            m_from_peer = channel(Pump(m_socket.get(), options.output_fd, from));
        }
        m_to_peer = channel(Pump(options.input_fd, m_socket.get(), to));
        break;
    case ServeMode::echo:
        from.sink_name = to.sink_name;
        from.buffer_size = k_small_buffer;
        m_from_peer = channel(Pump(m_socket.get(), m_socket.get(), from));
        break;
    case ServeMode::exec:
    case ServeMode::sh_exec: {
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
        auto child = ChildProcess::spawn(spec);
        if (!child) return tl::unexpected(child.error());
        m_child_stdin = std::move(child->stdin_pipe());
        m_child_stdout = std::move(child->stdout_pipe());
        m_child.emplace(std::move(*child));
        from.sink_name = fmt::format("the standard input of '{}'", spec.argv[0]);
        from.at_end = Pump::Options::AtEnd::nothing; // closed by step(): the child then sees EOF
        to.source_name = fmt::format("the standard output of '{}'", spec.argv[0]);
        from.buffer_size = k_small_buffer;
        to.buffer_size = k_small_buffer;
        m_from_peer = channel(Pump(m_socket.get(), m_child_stdin.get(), from));
        m_to_peer = channel(Pump(m_child_stdout.get(), m_socket.get(), to));
        break;
    }
    case ServeMode::greet:
        m_text = options.greeting;
        break;
    case ServeMode::send_file:
        break;
    }
    for (const int fd : {m_socket.get(), m_child_stdin.get(), m_child_stdout.get()})
        watch(fd);
    if (options.mode == ServeMode::relay) {
        watch(options.input_fd);
        watch(options.output_fd);
    }
    step();
    return {};
}

void Connection::watch(int fd) {
    if (fd < 0 || std::find(m_watched.begin(), m_watched.end(), fd) != m_watched.end()) return;
    // The handler calls m_changed last: the server may destroy this connection in there.
    auto added = m_loop.add(fd, 0, [this, fd](std::uint32_t ready) {
        on_ready(fd, ready);
        m_changed();
    });
    if (added) m_watched.push_back(fd);
}

void Connection::unwatch(int fd) {
    const auto it = std::find(m_watched.begin(), m_watched.end(), fd);
    if (it == m_watched.end()) return;
    m_loop.remove(fd);
    m_watched.erase(it);
}

void Connection::on_ready(int fd, std::uint32_t ready) {
    if (m_done) return;
    if (fd == m_socket.get() && (ready & (io::hangup | io::error)) != 0 &&
        m_context.options.mode == ServeMode::relay) {
        // Reset or fully closed: nobody reads what stdin would send any more.
        m_peer_gone = true;
    }
    if (fd == m_child_stdin.get() && (ready & (io::hangup | io::error)) != 0 && m_from_peer) {
        // The child closed its stdin: what the peer sends now has nowhere to go.
        m_from_peer->abandon();
    }
    step();
}

std::uint64_t Connection::moved() const {
    std::uint64_t total = m_sent + m_discarded;
    if (m_from_peer) total += m_from_peer->bytes_in() + m_from_peer->bytes_out();
    if (m_to_peer) total += m_to_peer->bytes_in() + m_to_peer->bytes_out();
    return total;
}

void Connection::report(const Status& status) {
    if (!status) {
        m_abnormal = true;
        m_context.observer.error(status.error());
    }
}

void Connection::step() {
    const auto before = moved();
    const auto mode = m_context.options.mode;
    if (m_from_peer && !m_from_peer->finished()) {
        const auto status = m_from_peer->step();
        // A child that stops reading its stdin is its own business, not an error worth a line.
        if (!m_child) report(status);
    }
    if (m_to_peer && !m_to_peer->finished()) {
        const auto status = m_to_peer->step();
        if (!status && m_context.options.mode == ServeMode::relay) m_peer_gone = true;
        report(status);
    }
    if (mode == ServeMode::greet || mode == ServeMode::send_file) step_writer();

    // The child's stdin is ours to close once the peer's data is all in (or abandoned).
    if (m_from_peer && m_from_peer->finished() && m_child_stdin) {
        unwatch(m_child_stdin.get());
        m_child_stdin.reset();
    }
    if (m_to_peer && m_to_peer->finished() && m_child_stdout) {
        unwatch(m_child_stdout.get());
        m_child_stdout.reset();
    }
    if (moved() != before) m_last_activity = Clock::now();

    switch (mode) {
    case ServeMode::relay:
        m_done = m_from_peer->finished() && (m_to_peer->finished() || m_peer_gone);
        break;
    case ServeMode::echo:
        m_done = m_from_peer->finished();
        break;
    case ServeMode::exec:
    case ServeMode::sh_exec:
        m_done = m_to_peer->finished();
        break;
    case ServeMode::greet:
    case ServeMode::send_file:
        m_done = m_writer_done && !m_linger_until;
        break;
    }
    if (m_done) {
        for (const int fd : std::vector<int>(m_watched))
            unwatch(fd);
        return;
    }
    update_interest();
}

void Connection::step_writer() {
    const int fd = m_socket.get();
    while (!m_writer_done) {
        ssize_t n = 0;
        if (m_context.options.mode == ServeMode::greet) {
            if (m_text_sent == m_text.size()) break;
            n = ::send(fd, m_text.data() + m_text_sent, m_text.size() - m_text_sent, MSG_NOSIGNAL);
            if (n > 0) m_text_sent += static_cast<std::size_t>(n);
        } else {
            n = ::sendfile(fd, m_context.file.get(), &m_file_offset, 1 << 20); // zero-copy
            if (n == 0) break;                                                 // end of file
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return; // wait for room
            const int err = errno;
            report(fail(ErrorKind::network,
                        fmt::format("send to {}: {}", peer_name(m_info), errno_text(err))));
            m_writer_done = true;
            return;
        }
        m_sent += static_cast<std::uint64_t>(n);
    }
    if (!m_writer_done) {
        m_writer_done = true;
        ::shutdown(fd, SHUT_WR); // the peer sees EOF: that was all
        m_linger_until = Clock::now() + k_linger;
    }
    // Linger: read and discard until the peer closes.
    char buffer[16384];
    while (m_linger_until) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            m_discarded += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        m_linger_until.reset(); // EOF or error: done
    }
}

void Connection::update_interest() {
    std::vector<std::pair<int, std::uint32_t>> interest;
    const auto want = [&](int fd, std::uint32_t events) {
        if (fd < 0) return;
        for (auto& [f, e] : interest) {
            if (f == fd) {
                e |= events;
                return;
            }
        }
        interest.emplace_back(fd, events);
    };
    for (const Channel* pump : {m_from_peer.get(), m_to_peer.get()}) {
        if (pump == nullptr) continue;
        want(pump->source_fd(), pump->wants_read() ? io::readable : 0);
        want(pump->sink_fd(), pump->wants_write() ? io::writable : 0);
    }
    const auto mode = m_context.options.mode;
    if (mode == ServeMode::relay) want(m_socket.get(), io::hangup); // learn of a reset at once
    if (mode == ServeMode::greet || mode == ServeMode::send_file) {
        want(m_socket.get(), !m_writer_done ? io::writable : (m_linger_until ? io::readable : 0));
    }
    for (const auto& [fd, events] : interest) {
        if (std::find(m_watched.begin(), m_watched.end(), fd) == m_watched.end()) continue;
        if (auto s = m_loop.set_events(fd, events); !s) {
            report(s);
            m_done = true;
        }
    }
}

std::optional<Clock::time_point> Connection::deadline() const {
    if (m_done) return std::nullopt;
    std::optional<Clock::time_point> when = m_linger_until;
    if (const auto& idle = m_context.options.idle_timeout) {
        const auto idle_at = m_last_activity + *idle;
        if (!when || idle_at < *when) when = idle_at;
    }
    return when;
}

void Connection::on_deadline(Clock::time_point now) {
    if (m_done) return;
    if (m_linger_until && now >= *m_linger_until) {
        m_linger_until.reset();
        if (m_writer_done) {
            m_done = true;
            for (const int fd : std::vector<int>(m_watched))
                unwatch(fd);
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
    m_abnormal = true;
    m_done = true;
    for (const int fd : std::vector<int>(m_watched))
        unwatch(fd);
}

std::optional<ChildProcess> Connection::take_child() {
    if (!m_child) return std::nullopt;
    m_child_stdin.reset();
    m_child_stdout.reset();
    if (m_abnormal) m_child->terminate();
    auto child = std::move(m_child);
    m_child.reset();
    return child;
}

ConnectionInfo Connection::info() const {
    ConnectionInfo info = m_info;
    const auto mode = m_context.options.mode;
    if (mode == ServeMode::greet || mode == ServeMode::send_file) {
        info.bytes_in = m_discarded;
        info.bytes_out = m_sent;
    } else {
        info.bytes_in = m_from_peer ? m_from_peer->bytes_in() : 0;
        info.bytes_out = mode == ServeMode::echo ? m_from_peer->bytes_out()
                                                 : (m_to_peer ? m_to_peer->bytes_out() : 0);
    }
    info.seconds = seconds_since(m_started);
    return info;
}

} // namespace nettool::serve_detail
