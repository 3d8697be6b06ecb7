#pragma once
// One accepted stream connection and what its mode does with it. The relay, --echo and
// --exec move bytes through the one relay (core/src/relay.hpp), with its half-close and reset
// rules; the fixed greeting and --send-file (sendfile(2)) are writers of their own.
#include "relay.hpp"
#include "serve_forward.hpp"
#include "serve_internal.hpp"
#include "tls_bridge.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <nettool/child_process.hpp>
#include <nettool/event_loop.hpp>
#include <optional>
#include <string>

namespace nettool::serve_detail {

// --accept-proxy: a client has this long to send its whole PROXY header (a proxy sends it at
// once; a client dribbling bytes must not hold a slot).
inline constexpr std::chrono::seconds k_header_wait{5};
// --tls: a client has this long to finish its handshake (one that connects and never speaks
// must not hold a slot).
inline constexpr std::chrono::seconds k_tls_handshake_wait{10};

// The client as messages name it: "127.0.0.1:5000", "the client (pid 42) on /run/x.sock".
std::string peer_name(const ConnectionInfo& info);

// What the stream server keeps for each accepted connection: a Connection on the server's
// own loop (--model event), or one served alone in a thread or a process (serve_model.hpp).
// The server admits, times and reports them alike.
class Session {
  public:
    virtual ~Session() = default;
    virtual Status start() = 0;
    virtual bool announced() const = 0;
    virtual bool done() const = 0;
    virtual Status outcome() const = 0;
    virtual std::optional<Clock::time_point> deadline() const = 0;
    virtual void on_deadline(Clock::time_point now) = 0;
    virtual void abort() = 0;
    virtual std::optional<ChildProcess> take_child() = 0;
    virtual ConnectionInfo info() const = 0;
};

class Connection final : public Session {
  public:
    // `changed` runs after every readiness event handled (the server checks done() there).
    Connection(ServeContext& context, EventLoop& loop, UniqueFd socket, ConnectionInfo info,
               std::function<void()> changed);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() override;

    // Sets the mode up (spawns the child for --exec) and starts watching. An error ends the
    // connection before it began. With --accept-proxy the PROXY header is read first, and the
    // access rules and the `connection` event wait for its address.
    Status start() override;
    // Whether the `connection` event was given (a connection refused by its PROXY header or by
    // the access rules applied to the carried address has no `close` event either).
    bool announced() const override { return m_announced; }

    bool done() const override;
    // How it ended, once done: success, or the error that ended it (a reset that cut the
    // peer's data short, a failed write...). The server reports it.
    Status outcome() const override;
    // When the connection must be looked at even without I/O (idle timeout, linger).
    std::optional<Clock::time_point> deadline() const override;
    void on_deadline(Clock::time_point now) override;
    // Ends it now (grace period over).
    void abort() override;
    // The --exec child, once the connection is done (the server ends its process group).
    std::optional<ChildProcess> take_child() override;
    ConnectionInfo info() const override;

  private:
    bool mode_done() const;
    bool bridge_failed() const;
    Status begin();
    Status start_tls();
    void after_tls_step();
    Status start_forward();
    void finish_connect();
    Status start_target_tls(const tls::Context& context);
    void after_target_tls_step();
    void start_forward_relay();
    void on_header_ready();
    void read_header();
    void fail_early(Error error);
    Status start_relay();
    Status start_exec();
    void changed();
    void on_writer_ready();
    void step_writer();
    bool discard_input();
    void update_writer_interest();
    void stop_writer();
    std::uint64_t moved() const;

    ServeContext& m_context;
    EventLoop& m_loop;
    UniqueFd m_socket;
    ConnectionInfo m_info;
    std::function<void()> m_changed;
    Clock::time_point m_started = Clock::now();
    Clock::time_point m_last_activity = m_started;
    std::uint64_t m_moved = 0; // at the last activity

    std::unique_ptr<Relay> m_relay;               // relay, echo, exec, forward
    std::unique_ptr<TargetConnector> m_connector; // forward, while connecting
    UniqueFd m_target;                            // forward, once connected
    std::string m_target_name;                    // forward: the target as messages name it
    std::vector<std::uint8_t> m_header;           // --accept-proxy: what of it was read
    std::optional<Clock::time_point> m_header_until;
    std::optional<SocketAddress> m_carried_destination;
    bool m_header_watching = false;
    bool m_announced = false;
    bool m_ended_early = false; // refused, or failed before its mode began
    Status m_early_status;
    std::optional<ChildProcess> m_child;

    // --tls: the bridge owns the TCP socket, and m_socket is the plaintext end the mode uses.
    // The mode starts once the handshake is done; when it is over, m_socket is closed and the
    // bridge released (it sends the rest and close_notify).
    std::unique_ptr<TlsBridge> m_bridge;
    std::optional<SocketAddress> m_tls_local; // the TCP socket's own address
    bool m_mode_started = false;
    bool m_released = false;

    // --to-tls: this bridge owns the target's TCP socket and m_target is its plaintext end.
    // The relay starts once the handshake is done (a failure ends the client's connection,
    // naming the target); once the relay is over, m_target is closed and the bridge released.
    std::unique_ptr<TlsBridge> m_target_bridge;
    bool m_target_released = false;

    // greet / send-file: how much was sent, then (for a client that talks) a short linger
    // that reads and discards until the peer closes (closing with unread data would reset
    // the connection and could destroy the greeting before the peer read it).
    std::size_t m_text_sent = 0;
    off_t m_file_offset = 0;
    bool m_writer_done = false;
    bool m_writer_watching = false;
    std::optional<Clock::time_point> m_linger_until;
    std::uint64_t m_sent = 0;
    std::uint64_t m_discarded = 0;
    Status m_writer_status;
    bool m_aborted = false;
};

} // namespace nettool::serve_detail
