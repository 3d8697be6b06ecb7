#include "tls_bridge.hpp"

#include "duration_text.hpp"
#include "relay.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <sys/socket.h>

namespace nettool {
namespace {

// One TLS record's worth of plaintext at a time each way: what SSL_read returns at most, and
// what SSL_write sends as one record.
constexpr std::size_t k_chunk = 16 * 1024;

bool gone(int err) {
    return err == EPIPE || err == ECONNRESET;
}

} // namespace

Result<std::unique_ptr<TlsBridge>> TlsBridge::create(EventLoop& loop, UniqueFd tcp,
                                                     tls::Session session, Settings settings,
                                                     std::function<void()> changed) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
        const int err = errno;
        return fail_errno(ErrorKind::file_io, err,
                          fmt::format("cannot make a socket pair for TLS with {}: {}",
                                      settings.peer_name, errno_text(err)));
    }
    return std::unique_ptr<TlsBridge>(new TlsBridge(loop, std::move(tcp), UniqueFd(pair[0]),
                                                    UniqueFd(pair[1]), std::move(session),
                                                    std::move(settings), std::move(changed)));
}

TlsBridge::TlsBridge(EventLoop& loop, UniqueFd tcp, UniqueFd plain, UniqueFd plain_peer,
                     tls::Session session, Settings settings, std::function<void()> changed)
    : m_loop(loop), m_tcp(std::move(tcp)), m_plain(std::move(plain)),
      m_plain_peer(std::move(plain_peer)), m_session(std::move(session)),
      m_settings(std::move(settings)), m_changed(std::move(changed)) {}

TlsBridge::~TlsBridge() {
    if (m_watching) {
        m_loop.remove(m_tcp.get());
        m_loop.remove(m_plain.get());
    }
}

void TlsBridge::start() {
    m_handshake_until = Clock::now() + m_settings.handshake_timeout;
    for (const int fd : {m_tcp.get(), m_plain.get()}) {
        auto added = m_loop.add(fd, 0, [this](std::uint32_t ready) {
            on_ready(ready);
            if (m_changed) m_changed();
        });
        if (!added) {
            if (fd == m_plain.get()) m_loop.remove(m_tcp.get());
            fail(std::move(added.error()));
            return;
        }
    }
    m_watching = true;
    step();
}

UniqueFd TlsBridge::take_plain_end() {
    return std::move(m_plain_peer);
}

void TlsBridge::release() {
    if (m_released) return;
    m_released = true;
    m_down.clear();
    m_down_sent = 0;
    step();
}

void TlsBridge::abort() {
    if (m_done) return;
    finish();
}

std::optional<TlsBridge::Clock::time_point> TlsBridge::deadline() const {
    if (m_done) return std::nullopt;
    if (!m_handshake_done) return m_handshake_until;
    return m_linger_until;
}

void TlsBridge::on_deadline(Clock::time_point now) {
    if (m_done) return;
    if (!m_handshake_done && now >= m_handshake_until) {
        fail(Error{ErrorKind::network,
                   fmt::format("{}: no TLS handshake within {}", m_settings.peer_name,
                               duration_text(m_settings.handshake_timeout)),
                   ETIMEDOUT, 0});
        return;
    }
    if (m_linger_until && now >= *m_linger_until) finish();
}

void TlsBridge::on_ready(std::uint32_t) {
    step();
}

void TlsBridge::step() {
    if (m_done) return;
    if (!m_handshake_done) {
        const tls::IoResult r = m_session.handshake();
        switch (r.status) {
        case tls::IoStatus::ok:
            m_handshake_done = true;
            break;
        case tls::IoStatus::want_read:
            m_handshake_wants = io::readable;
            update_interest();
            return;
        case tls::IoStatus::want_write:
            m_handshake_wants = io::writable;
            update_interest();
            return;
        case tls::IoStatus::closed:
            fail(Error{ErrorKind::network,
                       fmt::format("{} closed the connection during the TLS handshake",
                                   m_settings.peer_name)});
            return;
        case tls::IoStatus::failed:
            fail(r.error);
            return;
        }
    }
    for (int round = 0; round < m_settings.rounds_per_step && !m_done; ++round) {
        const bool down = step_down();
        const bool up = !m_done && step_up();
        if (!down && !up) break;
    }
    if (m_done) return;
    if (m_released && m_up_done) {
        // Our end went out; the peer's end of data (or the linger's) closes the connection.
        if (m_down_done || m_peer_closed) {
            finish();
            return;
        }
        if (!m_linger_until) m_linger_until = Clock::now() + m_settings.linger;
    }
    update_interest();
}

// Writes what was decrypted to the plaintext end; false when it must wait for room.
bool TlsBridge::deliver() {
    while (m_down_sent < m_down.size()) {
        const ssize_t n = ::send(m_plain.get(), m_down.data() + m_down_sent,
                                 m_down.size() - m_down_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            m_down_sent += static_cast<std::size_t>(n);
            m_bytes_down += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return false;
        m_discard_down = true; // the owner's end is closed: nobody reads the rest
        break;
    }
    m_down.clear();
    m_down_sent = 0;
    return true;
}

bool TlsBridge::step_down() {
    if (m_down_done) return false;
    if (m_released || m_discard_down) {
        m_down.clear();
        m_down_sent = 0;
    } else if (!deliver()) {
        return false;
    }
    m_down.resize(k_chunk);
    const tls::IoResult r = m_session.read(m_down);
    m_down.resize(r.status == tls::IoStatus::ok ? r.bytes : 0);
    switch (r.status) {
    case tls::IoStatus::ok:
        m_down_wants = io::readable;
        return true; // delivered (or, lingering, dropped) on the next round
    case tls::IoStatus::want_read:
    case tls::IoStatus::want_write:
        m_down_wants = r.status == tls::IoStatus::want_read ? io::readable : io::writable;
        return false;
    case tls::IoStatus::closed:
        return pass_on_peer_end();
    case tls::IoStatus::failed:
        break;
    }
    if (r.truncated && m_sent_close_notify) {
        // A TCP end without close_notify once ours went out is the peer's end of data: nginx,
        // among others, skips its own close_notify after the client's (RFC 8446 asks for it;
        // the practice differs). Before ours it stays a truncation.
        return pass_on_peer_end();
    }
    if (m_released) {
        // Done with the connection already: the peer's way of ending it does not matter.
        m_peer_closed = true;
        m_down_done = true;
        m_up_done = true;
        return true;
    }
    if (r.error.sys_errno == ECONNRESET) {
        fail(reset_before_end_of_data(m_settings.peer_name, m_bytes_down));
        return false;
    }
    fail(r.error);
    return false;
}

bool TlsBridge::step_up() {
    if (m_up_done) return false;
    bool progress = false;
    while (m_up_sent < m_up.size()) {
        const tls::IoResult r = m_session.write({m_up.data() + m_up_sent, m_up.size() - m_up_sent});
        if (r.status == tls::IoStatus::ok) {
            m_up_sent += r.bytes;
            m_bytes_up += r.bytes;
            m_up_wants = io::writable; // what the rest waits for, if the rounds run out
            progress = true;
            continue;
        }
        if (r.status == tls::IoStatus::want_read || r.status == tls::IoStatus::want_write) {
            m_up_wants = r.status == tls::IoStatus::want_read ? io::readable : io::writable;
            return progress;
        }
        handle_write_failure(r);
        return true;
    }
    m_up.clear();
    m_up_sent = 0;
    m_up_wants = 0;
    if (m_plain_ended) return send_close_notify() || progress;
    m_up.resize(k_chunk);
    const ssize_t n = ::recv(m_plain.get(), m_up.data(), m_up.size(), MSG_DONTWAIT);
    const int err = errno;
    m_up.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (n > 0) {
        m_up_wants = io::writable;
        return true;
    }
    if (n < 0 && (err == EAGAIN || err == EINTR)) return progress;
    // 0: the owner shut its end down; ECONNRESET: it closed it with our bytes unread.
    m_plain_ended = true;
    send_close_notify();
    return true;
}

// Each end is passed on in the step that finds it. (Leaving it to a next round left nothing
// watched when that step's rounds ran out, with the other direction already done: the far
// side then never saw the end.)
bool TlsBridge::pass_on_peer_end() {
    m_peer_closed = true;
    if (!m_released) ::shutdown(m_plain.get(), SHUT_WR); // the owner's end-of-file
    m_down_done = true;
    return true;
}

// Sends close_notify, then the TCP end of data. False while OpenSSL waits for the socket
// (m_up_wants says for what; it is retried from step_up()).
bool TlsBridge::send_close_notify() {
    const tls::IoResult r = m_session.shutdown();
    if (r.status == tls::IoStatus::want_read || r.status == tls::IoStatus::want_write) {
        m_up_wants = r.status == tls::IoStatus::want_read ? io::readable : io::writable;
        return false;
    }
    if (r.status == tls::IoStatus::failed) {
        handle_write_failure(r);
        return true;
    }
    ::shutdown(m_tcp.get(), SHUT_WR);
    m_sent_close_notify = true;
    m_up_done = true;
    return true;
}

// The peer no longer takes our data: after its close_notify (or once we are done) that only
// ends the sending, as EPIPE does for the relay; before it, a reset cut its data short.
void TlsBridge::handle_write_failure(const tls::IoResult& r) {
    if (gone(r.error.sys_errno) && (m_peer_closed || m_released || r.error.sys_errno == EPIPE)) {
        m_up.clear();
        m_up_sent = 0;
        m_up_done = true;
        if (!m_released) ::shutdown(m_plain.get(), SHUT_RD); // the owner's writes now fail
        return;
    }
    if (r.error.sys_errno == ECONNRESET) {
        fail(reset_before_end_of_data(m_settings.peer_name, m_bytes_down));
        return;
    }
    fail(r.error);
}

void TlsBridge::fail(Error error) {
    if (m_done) return;
    m_result = tl::unexpected(std::move(error));
    // The owner reads what arrived, then end-of-file, and its writes fail: its relay ends.
    ::shutdown(m_plain.get(), SHUT_RDWR);
    finish();
}

void TlsBridge::finish() {
    m_done = true;
    if (m_watching) {
        m_loop.remove(m_tcp.get());
        m_loop.remove(m_plain.get());
        m_watching = false;
    }
}

void TlsBridge::update_interest() {
    std::uint32_t tcp = 0;
    std::uint32_t plain = 0;
    if (!m_handshake_done) {
        tcp = m_handshake_wants;
    } else {
        const bool down_pending = m_down_sent < m_down.size();
        if (!m_down_done) {
            if (down_pending)
                plain |= io::writable;
            else
                tcp |= m_down_wants;
        }
        if (!m_up_done) {
            if (m_up_sent < m_up.size() || m_plain_ended)
                tcp |= m_up_wants;
            else
                plain |= io::readable;
        }
    }
    if (auto s = m_loop.set_events(m_tcp.get(), tcp); !s) return fail(std::move(s.error()));
    if (auto s = m_loop.set_events(m_plain.get(), plain); !s) return fail(std::move(s.error()));
}

} // namespace nettool
