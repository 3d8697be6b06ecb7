#pragma once
// TLS on the event loop without a second relay: the bridge owns the TCP socket and its TLS
// session, and offers the plaintext as one end of a socketpair(AF_UNIX, SOCK_STREAM), which
// the one Relay (relay.hpp), a greeting or sendfile(2) then use as the peer's socket.
//
//   peer <-TLS/TCP-> bridge <-plaintext, socketpair-> relay <-> stdin/stdout, a child, ...
//
// Its rules, which keep the relay's own (half-close per direction, the reset rule):
//  - The handshake runs on the loop, non-blocking (a server's other clients never wait), and
//    must finish within the timeout given.
//  - The owner's end of data (shutdown(SHUT_WR) of the plaintext end, or closing it) becomes
//    close_notify and then a TCP shutdown(SHUT_WR); the peer's data keeps flowing.
//  - The peer's close_notify becomes shutdown(SHUT_WR) of the plaintext end: the relay sees
//    end-of-file while its own data keeps going to the peer.
//  - A reset before the peer's close_notify, a TCP end without close_notify (a truncation) or a
//    TLS error is the bridge's failure; the plaintext end is then shut down both ways, so the
//    relay ends (with what arrived before), and the failure is the connection's outcome. A reset
//    or EPIPE after the peer's close_notify only ends the sending.
//  - Once the owner is done with its end it calls release(): what it wrote is still sent,
//    then close_notify, and the bridge lingers (Settings::linger) for the peer's end, so that
//    closing the TCP socket with the peer's bytes unread cannot reset our last bytes away.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nettool/error.hpp>
#include <nettool/event_loop.hpp>
#include <nettool/tls.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace nettool {

class TlsBridge {
  public:
    using Clock = std::chrono::steady_clock;

    struct Settings {
        std::string peer_name; // for messages
        std::chrono::milliseconds handshake_timeout{10'000};
        // How long a released bridge waits for the peer's end of data (a server's greeting
        // must not be reset away; a client that stops reading, --max-bytes, waits for nothing).
        std::chrono::milliseconds linger{2000};
        // The most reads and writes one event makes before it returns, so that one busy
        // connection cannot keep the loop from the others.
        int rounds_per_step = 16;
    };

    // Takes the connected TCP socket (non-blocking) and a session made on it; makes the pair.
    static Result<std::unique_ptr<TlsBridge>> create(EventLoop& loop, UniqueFd tcp,
                                                     tls::Session session, Settings settings,
                                                     std::function<void()> changed);
    TlsBridge(const TlsBridge&) = delete;
    TlsBridge& operator=(const TlsBridge&) = delete;
    ~TlsBridge();

    // Starts the handshake and watching (call once).
    void start();
    // The plaintext end for the owner (non-blocking, close-on-exec); taken once.
    UniqueFd take_plain_end();
    // The owner closed (or shut down) the end it took, and reads nothing more.
    void release();
    // Ends it now: nothing more moves, no close_notify (grace period over, idle timeout).
    void abort();

    bool handshake_done() const { return m_handshake_done; }
    bool done() const { return m_done; }
    // Once failed or done: success, or the failure (ErrorKind::tls, network for resets).
    const Status& result() const { return m_result; }
    tls::PeerInfo peer() const { return m_session.peer(); }
    // When it must be looked at without I/O (handshake timeout, linger).
    std::optional<Clock::time_point> deadline() const;
    void on_deadline(Clock::time_point now);
    // The TCP socket it owns (a forwarder resets it when the other side failed).
    int socket_fd() const { return m_tcp.get(); }
    // Plaintext bytes moved (activity).
    std::uint64_t moved() const { return m_bytes_down + m_bytes_up; }

  private:
    TlsBridge(EventLoop& loop, UniqueFd tcp, UniqueFd plain, UniqueFd plain_peer,
              tls::Session session, Settings settings, std::function<void()> changed);
    void on_ready(std::uint32_t ready);
    void step();
    bool step_down();
    bool step_up();
    bool deliver();
    void handle_write_failure(const tls::IoResult& r);
    bool pass_on_peer_end();
    bool send_close_notify();
    void fail(Error error);
    void finish();
    void update_interest();

    EventLoop& m_loop;
    UniqueFd m_tcp;
    UniqueFd m_plain;      // ours
    UniqueFd m_plain_peer; // the owner's, until taken
    tls::Session m_session;
    Settings m_settings;
    std::function<void()> m_changed;
    bool m_watching = false;

    Clock::time_point m_handshake_until;
    bool m_handshake_done = false;
    std::uint32_t m_handshake_wants = io::readable | io::writable;

    // Down: peer -> TLS -> plaintext end.
    std::vector<char> m_down;
    std::size_t m_down_sent = 0;
    std::uint32_t m_down_wants = io::readable; // what the TLS read waits for
    bool m_peer_closed = false;                // its close_notify came
    bool m_discard_down = false;               // the owner's end is closed for reading
    bool m_down_done = false;

    // Up: plaintext end -> TLS -> peer.
    std::vector<char> m_up;
    std::size_t m_up_sent = 0;
    std::uint32_t m_up_wants = 0; // what a pending TLS write (or close_notify) waits for
    bool m_plain_ended = false;   // the owner's end of data
    bool m_up_done = false;
    bool m_sent_close_notify = false; // ours went out: see step_down() on the peer's end

    bool m_released = false;
    std::optional<Clock::time_point> m_linger_until;
    std::uint64_t m_bytes_down = 0;
    std::uint64_t m_bytes_up = 0;
    Status m_result;
    bool m_done = false;
};

} // namespace nettool
