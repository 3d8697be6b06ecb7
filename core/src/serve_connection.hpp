#pragma once
// One accepted stream connection and what its mode does with it. The relay, --echo and
// --exec move bytes through the one relay (core/src/relay.hpp), with its half-close and reset
// rules; the fixed greeting and --send-file (sendfile(2)) are writers of their own.
#include "relay.hpp"
#include "serve_internal.hpp"

#include <functional>
#include <memory>
#include <nettool/child_process.hpp>
#include <nettool/event_loop.hpp>
#include <optional>
#include <string>

namespace nettool::serve_detail {

class Connection {
  public:
    // `changed` runs after every readiness event handled (the server checks done() there).
    Connection(ServeContext& context, EventLoop& loop, UniqueFd socket, ConnectionInfo info,
               std::function<void()> changed);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    // Sets the mode up (spawns the child for --exec) and starts watching. An error ends the
    // connection before it began.
    Status start();

    bool done() const;
    // How it ended, once done: success, or the error that ended it (a reset that cut the
    // peer's data short, a failed write...). The server reports it.
    Status outcome() const;
    // When the connection must be looked at even without I/O (idle timeout, linger).
    std::optional<Clock::time_point> deadline() const;
    void on_deadline(Clock::time_point now);
    // Ends it now (grace period over).
    void abort();
    // The --exec child, once the connection is done (the server ends its process group).
    std::optional<ChildProcess> take_child();
    ConnectionInfo info() const;

  private:
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

    std::unique_ptr<Relay> m_relay; // relay, echo, exec
    std::optional<ChildProcess> m_child;

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
