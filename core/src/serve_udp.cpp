// The datagram (UDP) server. There are no connections: a "client" is a peer address, seen
// from its first datagram until it has been quiet for --idle-timeout (or the server stops).
// --echo and --greet answer each datagram to its sender; the relay writes datagrams to stdout
// and sends each line of stdin as one datagram to the peer heard from last. Datagram
// boundaries are the point here, so these directions are not Pumps (which move byte streams).
// With --workers each worker runs one of these on its own SO_REUSEPORT socket; the kernel
// hands all datagrams of one peer address to the same socket.
#include "serve_internal.hpp"
#include "util/check.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <nettool/event_loop.hpp>
#include <nettool/stop.hpp>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace nettool::serve_detail {
namespace {

constexpr std::size_t k_max_peers = 4096;           // the oldest is forgotten beyond this
constexpr std::size_t k_max_stdout_queue = 8 << 20; // datagrams beyond this are dropped

class DatagramServer {
  public:
    DatagramServer(ServeContext& context, EventLoop loop)
        : m_context(context), m_loop(std::move(loop)) {}
    Status run();

  private:
    struct Peer {
        SocketAddress address;
        int socket = -1;
        Clock::time_point first;
        Clock::time_point last;
        std::uint64_t bytes_in = 0;
        std::uint64_t bytes_out = 0;
    };

    void on_datagrams(const Listener& listener);
    Peer* find_or_add(const SocketAddress& address, int socket);
    void forget(std::size_t index);
    void reply(Peer& peer, const char* data, std::size_t size);
    void on_stdin();
    void on_stdout();
    void update_interest();
    std::optional<std::chrono::milliseconds> next_timeout() const;
    void expire_idle();

    ServeContext& m_context;
    EventLoop m_loop;
    std::vector<Peer> m_peers;
    std::optional<SocketAddress> m_last_peer;
    int m_last_socket = -1;
    std::string m_to_stdout;
    std::string m_from_stdin;
    bool m_stdin_ended = false;
    bool m_served = false; // without -k: the one peer was seen
    bool m_done = false;
    std::vector<char> m_buffer = std::vector<char>(65536);
};

DatagramServer::Peer* DatagramServer::find_or_add(const SocketAddress& address, int socket) {
    for (auto& p : m_peers) {
        if (p.address == address) return &p;
    }
    if (!m_context.options.keep_open && m_served) return nullptr; // one client, like nc -lu
    if (m_peers.size() >= k_max_peers) forget(0);
    Peer peer;
    peer.address = address;
    peer.socket = socket;
    peer.first = peer.last = Clock::now();
    m_peers.push_back(peer);
    m_served = true;
    ConnectionInfo info;
    info.transport = Transport::udp;
    info.peer = address;
    m_context.observer.connection(info);
    return &m_peers.back();
}

void DatagramServer::forget(std::size_t index) {
    const Peer& p = m_peers[index];
    ConnectionInfo info;
    info.transport = Transport::udp;
    info.peer = p.address;
    info.bytes_in = p.bytes_in;
    info.bytes_out = p.bytes_out;
    info.seconds = std::chrono::duration<double>(p.last - p.first).count();
    m_context.observer.closed(info);
    m_peers.erase(m_peers.begin() + static_cast<std::ptrdiff_t>(index));
}

void DatagramServer::reply(Peer& peer, const char* data, std::size_t size) {
    const ssize_t n = ::sendto(peer.socket, data, size, MSG_DONTWAIT | MSG_NOSIGNAL,
                               peer.address.get(), peer.address.length());
    // A full send buffer drops the reply, as the network may: that is UDP.
    if (n > 0) peer.bytes_out += static_cast<std::uint64_t>(n);
}

void DatagramServer::on_datagrams(const Listener& listener) {
    const auto mode = m_context.options.mode;
    for (int i = 0; i < 64 && !m_done; ++i) {
        SocketAddress from;
        socklen_t length = from.capacity();
        const ssize_t n = ::recvfrom(listener.fd(), m_buffer.data(), m_buffer.size(), MSG_DONTWAIT,
                                     from.get_mutable(), &length);
        if (n < 0) {
            if (errno == EINTR) continue;
            return; // EAGAIN, or an ICMP error of an earlier reply: nothing to read
        }
        from.set_length(length);
        if (!m_context.options.access.permits(from)) {
            ConnectionInfo info;
            info.transport = Transport::udp;
            info.peer = from;
            m_context.observer.denied(info);
            continue;
        }
        Peer* peer = find_or_add(from, listener.fd());
        if (peer == nullptr) continue;
        const auto size = static_cast<std::size_t>(n);
        peer->bytes_in += size;
        peer->last = Clock::now();
        switch (mode) {
        case ServeMode::echo:
            reply(*peer, m_buffer.data(), size);
            break;
        case ServeMode::greet:
            reply(*peer, m_context.options.greeting.data(), m_context.options.greeting.size());
            if (!m_context.options.keep_open) {
                forget(0);
                m_done = true; // greeted the one client
            }
            break;
        default: // relay
            m_last_peer = from;
            m_last_socket = listener.fd();
            if (m_to_stdout.size() + size <= k_max_stdout_queue)
                m_to_stdout.append(m_buffer.data(), size);
            break;
        }
    }
}

void DatagramServer::on_stdin() {
    const ssize_t n = ::read(m_context.options.input_fd, m_buffer.data(), m_buffer.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        m_stdin_ended = true;
    } else {
        m_from_stdin.append(m_buffer.data(), static_cast<std::size_t>(n));
    }
    // One datagram per line (with its newline); what is left at EOF goes as a last one.
    Peer* peer = nullptr;
    for (auto& p : m_peers) {
        if (m_last_peer && p.address == *m_last_peer) peer = &p;
    }
    std::size_t start = 0;
    for (std::size_t nl; (nl = m_from_stdin.find('\n', start)) != std::string::npos;
         start = nl + 1) {
        if (peer != nullptr) reply(*peer, m_from_stdin.data() + start, nl + 1 - start);
    }
    m_from_stdin.erase(0, start);
    if ((m_stdin_ended && !m_from_stdin.empty()) || m_from_stdin.size() >= 65507) {
        if (peer != nullptr)
            reply(*peer, m_from_stdin.data(), std::min<std::size_t>(m_from_stdin.size(), 65507));
        m_from_stdin.clear();
    }
}

void DatagramServer::on_stdout() {
    const ssize_t n = ::write(m_context.options.output_fd, m_to_stdout.data(), m_to_stdout.size());
    if (n > 0) {
        m_to_stdout.erase(0, static_cast<std::size_t>(n));
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        const int err = errno;
        m_context.observer.error(Error{
            ErrorKind::file_io, fmt::format("write to standard output: {}", errno_text(err))});
        m_to_stdout.clear();
    }
}

void DatagramServer::update_interest() {
    if (m_context.options.mode != ServeMode::relay) return;
    const bool peer_known = m_last_peer.has_value() && m_last_socket >= 0;
    (void)m_loop.set_events(m_context.options.input_fd,
                            peer_known && !m_stdin_ended ? io::readable : 0);
    (void)m_loop.set_events(m_context.options.output_fd, m_to_stdout.empty() ? 0 : io::writable);
}

std::optional<std::chrono::milliseconds> DatagramServer::next_timeout() const {
    const auto& idle = m_context.options.idle_timeout;
    if (!idle || m_peers.empty()) return std::nullopt;
    Clock::time_point when = m_peers.front().last;
    for (const auto& p : m_peers)
        when = std::min(when, p.last);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(when + *idle - Clock::now());
    return std::max(left, std::chrono::milliseconds(0));
}

void DatagramServer::expire_idle() {
    const auto& idle = m_context.options.idle_timeout;
    if (!idle) return;
    const auto now = Clock::now();
    for (std::size_t i = m_peers.size(); i-- > 0;) {
        if (now >= m_peers[i].last + *idle) forget(i);
    }
    if (!m_context.options.keep_open && m_served && m_peers.empty()) m_done = true;
}

Status DatagramServer::run() {
    if (stop_fd() >= 0) {
        auto s = m_loop.add(stop_fd(), io::readable, [this](std::uint32_t) { m_done = true; });
        if (!s) return s;
    }
    if (m_context.wake_fd >= 0) {
        // Another worker failed: all stop.
        auto s = m_loop.add(m_context.wake_fd, io::readable, [this](std::uint32_t) {
            SharedState::drain(m_context.wake_fd);
            if (m_context.shared.stopping()) m_done = true;
        });
        if (!s) return s;
    }
    for (const auto& l : m_context.listeners) {
        const Listener* listener = &l;
        auto s = m_loop.add(l.fd(), io::readable,
                            [this, listener](std::uint32_t) { on_datagrams(*listener); });
        if (!s) return s;
    }
    if (m_context.options.mode == ServeMode::relay) {
        m_stdin_ended = !m_context.input_open;
        (void)m_loop.add(m_context.options.input_fd, 0, [this](std::uint32_t) { on_stdin(); });
        (void)m_loop.add(m_context.options.output_fd, 0, [this](std::uint32_t) { on_stdout(); });
    }
    while (!m_done && !stop_requested()) {
        update_interest();
        auto s = m_loop.run_once(next_timeout());
        if (!s) {
            m_context.shared.stop_all();
            return s;
        }
        expire_idle();
    }
    if (!m_to_stdout.empty()) on_stdout(); // one last try; UDP promised nothing more
    while (!m_peers.empty())
        forget(m_peers.size() - 1);
    return {};
}

} // namespace

Status serve_datagrams(ServeContext& context) {
    NETTOOL_CHECK(context.loop.has_value());
    DatagramServer server(context, std::move(*context.loop));
    return server.run();
}

} // namespace nettool::serve_detail
