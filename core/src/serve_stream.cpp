// The stream (TCP, Unix) server: one epoll loop accepts and serves every connection (one
// such loop per --workers thread, each with its own listening sockets); with --model thread or
// fork it accepts, and each connection is served in a thread or a process of its own
// (serve_model.hpp), a session the loop times and reports like the others.
#include "serve_model.hpp"
#include "util/check.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <nettool/stop.hpp>
#include <poll.h>
#include <queue>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>

namespace nettool::serve_detail {
namespace {

// How long process groups left at exit get between SIGTERM and SIGKILL (the connections had
// the --grace period already).
constexpr std::chrono::milliseconds k_exit_grace{1000};

class StreamServer {
  public:
    StreamServer(ServeContext& context, EventLoop loop)
        : m_context(context), m_loop(std::move(loop)) {}
    Status run();

  private:
    bool may_accept() const;
    void update_listeners();
    void on_acceptable(Listener& listener);
    void shed(Listener& listener, int err);
    void admit(UniqueFd socket, const SocketAddress& peer, const Listener& listener);
    void on_connection_changed(std::uint64_t id);
    void schedule(std::uint64_t id, Session& c);
    void finish(std::uint64_t id);
    void begin_stop();
    void on_deadlines();
    std::optional<std::chrono::milliseconds> next_timeout() const;
    void report(Status outcome);

    ServeContext& m_context;
    EventLoop m_loop;
    std::map<std::uint64_t, std::unique_ptr<Session>> m_connections;
    // Connection deadlines (idle timeout, linger), earliest first, so that a turn of the loop
    // never walks every connection. Activity only moves a deadline later, so nothing is queued
    // for it: the entry comes up, finds the connection not yet due, and queues its new
    // deadline. m_scheduled is each connection's queued entry; others are stale, skipped.
    using Timer = std::pair<Clock::time_point, std::uint64_t>;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<>> m_timers;
    std::unordered_map<std::uint64_t, Clock::time_point> m_scheduled;
    std::vector<std::uint64_t> m_finished; // destroyed after the handlers of a turn ran
    std::uint64_t m_next_id = 1;
    GroupReaper m_groups; // the process groups of --exec children whose connection ended
    std::optional<Clock::time_point> m_groups_due;
    Status m_result;  // without -k: how the one connection ended is the exit status
    UniqueFd m_spare; // a descriptor to give up when accept() hits the limit
    bool m_stopping = false;
    bool m_grace_over = false; // every session was told to end (some take a moment)
    bool m_served = false;     // without -k: the one client was accepted
    bool m_listening = false;
    bool m_limit_reported = false;
    std::optional<Clock::time_point> m_accept_paused_until;
    Clock::time_point m_grace_end;
};

bool StreamServer::may_accept() const {
    const auto& o = m_context.options;
    if (m_stopping || (!o.keep_open && m_served)) return false;
    if (m_accept_paused_until) return false;
    // Relay: stdin is one stream, so clients take turns (the next waits in the backlog).
    if (o.mode == ServeMode::relay && !m_connections.empty()) return false;
    // --max-conns (counted over all workers): stop accepting; further clients wait in the
    // kernel's backlog.
    if (m_context.shared.full()) return false;
    return true;
}

void StreamServer::update_listeners() {
    if (!m_listening) return;
    const auto& o = m_context.options;
    if (m_stopping || (!o.keep_open && m_served)) {
        // Stop accepting for good: later clients are refused, the socket file goes away.
        for (auto& l : m_context.listeners) {
            m_loop.remove(l.fd());
            l.close();
        }
        m_listening = false;
        return;
    }
    const std::uint32_t events = may_accept() ? io::readable : 0;
    for (auto& l : m_context.listeners)
        (void)m_loop.set_events(l.fd(), events);
}

void StreamServer::on_acceptable(Listener& listener) {
    for (int i = 0; i < 64 && may_accept(); ++i) {
        if (!m_context.shared.take_slot()) return; // another worker took the last one
        SocketAddress peer;
        socklen_t length = peer.capacity();
        const int fd =
            ::accept4(listener.fd(), peer.get_mutable(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            m_context.shared.give_slot();
            if (err == EAGAIN || err == EWOULDBLOCK) return;
            if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                shed(listener, err);
                continue;
            }
            m_context.observer.error(Error{
                kind_of_socket_errno(err),
                fmt::format("accept on {}: {}", listener.local().display(), errno_text(err))});
            return;
        }
        m_limit_reported = false;
        peer.set_length(length);
        admit(UniqueFd(fd), peer, listener);
    }
}

// Out of descriptors: the pending client would make accept() fail forever and the loop spin.
// Give up the spare descriptor, accept the client and close it at once, take the spare back
// (libev's and nginx's trick); without a spare, stop accepting for a moment.
void StreamServer::shed(Listener& listener, int err) {
    if (!m_limit_reported) {
        m_context.observer.error(
            Error{ErrorKind::file_io,
                  fmt::format("out of file descriptors ({}); closing new connections until some "
                              "are free (raise the limit with ulimit -n)",
                              errno_text(err))});
        m_limit_reported = true;
    }
    if (m_spare) {
        m_spare.reset();
        const int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) ::close(fd);
        m_spare.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (fd >= 0 && m_spare) return;
    }
    m_accept_paused_until = Clock::now() + std::chrono::milliseconds(100);
    update_listeners();
}

void StreamServer::admit(UniqueFd socket, const SocketAddress& peer, const Listener& listener) {
    ConnectionInfo info;
    info.transport = listener.transport();
    info.peer = peer;
    if (info.transport == Transport::unix_stream) {
        info.where = listener.local().host();
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(socket.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
            info.peer_pid = cred.pid;
    }
    // --accept-proxy: the address that counts arrives in the PROXY header; the connection
    // checks it and says so once it is read. --tls: the connection is announced once the
    // handshake is done (with the client's certificate).
    if (!m_context.options.accept_proxy) {
        if (!m_context.options.access.permits(peer)) {
            m_context.observer.denied(info); // closed at once
            m_context.shared.give_slot();
            return;
        }
        if (m_context.tls == nullptr) m_context.observer.connection(info);
    }
    m_served = true;
    const std::uint64_t id = m_next_id++;
    auto changed = [this, id] { on_connection_changed(id); };
    std::unique_ptr<Session> connection;
    switch (m_context.options.model) {
    case ServeModel::event:
        connection = std::make_unique<Connection>(m_context, m_loop, std::move(socket), info,
                                                  std::move(changed));
        break;
    case ServeModel::thread:
        connection =
            make_thread_session(m_context, m_loop, std::move(socket), info, std::move(changed));
        break;
    case ServeModel::fork:
        connection =
            make_fork_session(m_context, m_loop, std::move(socket), info, std::move(changed));
        break;
    }
    Session& c = *connection;
    m_connections.emplace(id, std::move(connection));
    if (auto s = c.start(); !s) {
        report(std::move(s));
        c.abort();
    }
    if (c.done()) {
        // A greeting sent in one write: close now, right behind the data, so that the client
        // reads the greeting and the end in one wake-up. Closed after the turn, with the next
        // clients accepted first, it was woken twice and the server paid for the second wake-up
        // (server CPU per connection 1.37x a minimal accept/write/close loop's; 1.11x when
        // closed at once). Safe here: this is the listener's handler, not the connection's.
        finish(id);
    } else {
        on_connection_changed(id);
    }
    update_listeners();
}

void StreamServer::on_connection_changed(std::uint64_t id) {
    const auto it = m_connections.find(id);
    if (it == m_connections.end()) return;
    if (!it->second->done()) {
        schedule(id, *it->second);
        return;
    }
    if (std::find(m_finished.begin(), m_finished.end(), id) == m_finished.end())
        m_finished.push_back(id);
}

void StreamServer::schedule(std::uint64_t id, Session& c) {
    const auto when = c.deadline();
    if (!when) return;
    const auto [it, added] = m_scheduled.try_emplace(id, *when);
    if (!added && it->second <= *when) return; // the queued entry comes first
    it->second = *when;
    m_timers.emplace(*when, id);
}

void StreamServer::finish(std::uint64_t id) {
    const auto it = m_connections.find(id);
    if (it == m_connections.end()) return;
    if (it->second->announced()) m_context.observer.closed(it->second->info());
    Status outcome = it->second->outcome();
    // Whatever the child started ends with its connection (SIGTERM now, SIGKILL after the
    // grace period); its --max-conns slot is free at once.
    if (auto child = it->second->take_child()) {
        m_groups.add(std::move(*child), m_context.options.grace);
        m_groups_due = m_groups.poll();
    }
    m_connections.erase(it);
    m_scheduled.erase(id);
    m_context.shared.give_slot();
    report(std::move(outcome));
}

// With -k a connection's failure is an event and the server goes on; without -k the one
// connection is the whole job, so its failure (a reset that cut the data short) is the exit
// status, said once. The relay's stdin and stdout are shared by every client: once writing
// or reading them failed (the reader of stdout is gone), no later client can be served, so
// that ends the server too.
void StreamServer::report(Status outcome) {
    if (outcome) return;
    const bool local = outcome.error().kind == ErrorKind::file_io;
    if (m_context.options.keep_open && !(local && m_context.options.mode == ServeMode::relay)) {
        m_context.observer.error(outcome.error());
        return;
    }
    if (m_result) m_result = std::move(outcome);
    if (m_context.options.keep_open && !m_stopping) begin_stop();
}

void StreamServer::begin_stop() {
    if (m_stopping) return;
    m_stopping = true;
    m_loop.remove(stop_fd());
    m_grace_end = Clock::now() + m_context.options.grace;
    if (!m_connections.empty()) {
        m_context.observer.note(
            fmt::format("stopping: no new connections; waiting up to {} ms for {} open "
                        "connection(s) to finish",
                        m_context.options.grace.count(), m_connections.size()));
    }
    update_listeners();
}

std::optional<std::chrono::milliseconds> StreamServer::next_timeout() const {
    std::optional<Clock::time_point> when;
    const auto earliest = [&](std::optional<Clock::time_point> t) {
        if (t && (!when || *t < *when)) when = t;
    };
    if (!m_timers.empty()) earliest(m_timers.top().first);
    if (m_stopping && !m_grace_over) earliest(m_grace_end);
    earliest(m_accept_paused_until);
    earliest(m_groups_due);
    if (!when) return std::nullopt;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*when - Clock::now());
    return std::max(left, std::chrono::milliseconds(0));
}

void StreamServer::on_deadlines() {
    const auto now = Clock::now();
    while (!m_timers.empty() && m_timers.top().first <= now) {
        const auto [when, id] = m_timers.top();
        m_timers.pop();
        const auto it = m_connections.find(id);
        const auto queued = m_scheduled.find(id);
        if (it == m_connections.end() || queued == m_scheduled.end() || queued->second != when)
            continue; // gone, or its deadline moved (a later entry stands for it)
        m_scheduled.erase(queued);
        if (const auto due = it->second->deadline(); due && *due <= now)
            it->second->on_deadline(now);
        on_connection_changed(id); // finished, or queued again for its next deadline
    }
    if (m_stopping && !m_grace_over && now >= m_grace_end) {
        // Connections on this loop end at once; a thread or a process ends soon after.
        m_grace_over = true;
        for (auto& [id, c] : m_connections) {
            c->abort();
            on_connection_changed(id);
        }
    }
    if (m_groups_due && now >= *m_groups_due) m_groups_due = m_groups.poll();
    if (m_accept_paused_until && now >= *m_accept_paused_until) {
        m_accept_paused_until.reset();
        if (!m_spare) m_spare.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        update_listeners();
    }
}

Status StreamServer::run() {
    m_spare.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (stop_fd() >= 0) {
        auto s = m_loop.add(stop_fd(), io::readable, [this](std::uint32_t) { begin_stop(); });
        if (!s) return s;
    }
    if (m_context.wake_fd >= 0) {
        // Another worker freed a --max-conns slot, or failed and all stop.
        auto s = m_loop.add(m_context.wake_fd, io::readable, [this](std::uint32_t) {
            SharedState::drain(m_context.wake_fd);
            if (m_context.shared.stopping() && !m_stopping) begin_stop();
            update_listeners();
        });
        if (!s) return s;
    }
    for (auto& l : m_context.listeners) {
        Listener* listener = &l;
        auto s = m_loop.add(l.fd(), io::readable, [this, listener](std::uint32_t) {
            if (may_accept()) on_acceptable(*listener);
        });
        if (!s) return s;
    }
    m_listening = true;
    if (stop_requested()) begin_stop();
    const auto& o = m_context.options;
    while (true) {
        const bool finished = m_connections.empty() && (m_stopping || (!o.keep_open && m_served));
        if (finished) break;
        auto s = m_loop.run_once(next_timeout());
        if (!s) {
            // The loop itself failed: end every connection, and its group with the rest; the
            // other workers stop too.
            m_context.shared.stop_all();
            for (auto& [id, c] : m_connections) {
                c->abort();
                if (auto child = c->take_child()) m_groups.add(std::move(*child), o.grace);
            }
            m_groups.end_all(k_exit_grace);
            return s;
        }
        on_deadlines();
        const bool had_finished = !m_finished.empty();
        for (const auto id : std::exchange(m_finished, {}))
            finish(id);
        if (had_finished) update_listeners();
    }
    // Groups still present get SIGTERM and a moment, then SIGKILL: nothing outlives serve.
    m_groups.end_all(k_exit_grace);
    return m_result;
}

} // namespace

Status serve_streams(ServeContext& context) {
    NETTOOL_CHECK(context.loop.has_value());
    StreamServer server(context, std::move(*context.loop));
    return server.run();
}

} // namespace nettool::serve_detail
