#pragma once
// One accepted stream connection and what its mode does with it. Every byte-moving direction
// is a Pump (relay, echo, exec); the fixed greeting and --send-file (sendfile(2)) are writers
// of their own. End of stream is propagated both ways: the peer's SHUT_WR reaches the child's
// stdin as EOF while the child's reply still flows back.
#include "serve_internal.hpp"

#include <functional>
#include <memory>
#include <nettool/child_process.hpp>
#include <nettool/event_loop.hpp>
#include <nettool/pump.hpp>
#include <nettool/splice_pump.hpp>
#include <optional>
#include <string>

namespace nettool::serve_detail {

// One direction of a connection: a Pump, or a SplicePump for the relay's bulk direction.
class Channel {
  public:
    virtual ~Channel() = default;
    virtual Status step() = 0;
    virtual bool wants_read() const = 0;
    virtual bool wants_write() const = 0;
    virtual bool finished() const = 0;
    virtual void abandon() = 0;
    virtual std::uint64_t bytes_in() const = 0;
    virtual std::uint64_t bytes_out() const = 0;
    virtual int source_fd() const = 0;
    virtual int sink_fd() const = 0;
};

template <class P> class ChannelOf final : public Channel {
  public:
    explicit ChannelOf(P pump) : m_pump(std::move(pump)) {}
    Status step() override { return m_pump.step(); }
    bool wants_read() const override { return m_pump.wants_read(); }
    bool wants_write() const override { return m_pump.wants_write(); }
    bool finished() const override { return m_pump.finished(); }
    void abandon() override { m_pump.abandon(); }
    std::uint64_t bytes_in() const override { return m_pump.bytes_in(); }
    std::uint64_t bytes_out() const override { return m_pump.bytes_out(); }
    int source_fd() const override { return m_pump.source_fd(); }
    int sink_fd() const override { return m_pump.sink_fd(); }

  private:
    P m_pump;
};

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

    bool done() const { return m_done; }
    // When the connection must be looked at even without I/O (idle timeout, linger).
    std::optional<Clock::time_point> deadline() const;
    void on_deadline(Clock::time_point now);
    // Ends it now (grace period over).
    void abort();
    // The child, if it still runs after the connection is done (the server reaps it).
    std::optional<ChildProcess> take_child();
    ConnectionInfo info() const;

  private:
    void on_ready(int fd, std::uint32_t ready);
    void step();
    void step_writer();
    void update_interest();
    void watch(int fd);
    void unwatch(int fd);
    void report(const Status& status);
    std::uint64_t moved() const;

    ServeContext& m_context;
    EventLoop& m_loop;
    UniqueFd m_socket;
    ConnectionInfo m_info;
    std::function<void()> m_changed;
    Clock::time_point m_started = Clock::now();
    Clock::time_point m_last_activity = m_started;

    std::unique_ptr<Channel> m_from_peer; // peer -> stdout / child / itself (echo)
    std::unique_ptr<Channel> m_to_peer;   // stdin / child -> peer
    std::optional<ChildProcess> m_child;
    UniqueFd m_child_stdin;
    UniqueFd m_child_stdout;

    // greet / send-file: what is left to send, then a short linger that reads and discards
    // until the peer closes (closing with unread data would reset the connection and could
    // destroy the greeting before the peer read it).
    std::string m_text;
    std::size_t m_text_sent = 0;
    off_t m_file_offset = 0;
    bool m_writer_done = false;
    std::optional<Clock::time_point> m_linger_until;
    std::uint64_t m_sent = 0;
    std::uint64_t m_discarded = 0;

    bool m_peer_gone = false;
    bool m_done = false;
    bool m_abnormal = false; // ended by timeout, error or abort: the child is told to stop
    std::vector<int> m_watched;
};

} // namespace nettool::serve_detail
