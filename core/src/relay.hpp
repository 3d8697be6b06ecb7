#pragma once
// The one relay (internal to core/): joins a peer connection to local descriptors with two
// one-way channels, driven by an EventLoop. connect, serve's relay, --exec and --echo use it;
// a forwarder joins two sockets with it (a socket is a local side like any other).
//
// The rules it keeps, so that every user gets them alike:
//  - Half-close is per direction. The peer's end of data (FIN) ends the output at once (the
//    reader downstream sees end-of-file) while the input keeps flowing to the peer until its
//    own end, EPIPE or a reset; the input's end is passed on as shutdown(SHUT_WR).
//  - A terminal on the input side (nc's interactive habit) or a --max-bytes limit reached
//    ends the whole relay when the peer's data ends.
//  - The reset rule, decided from errno and state, never from text: a reset before the
//    peer's end of data (ECONNRESET on either direction while the peer's data is still
//    open) cut the data short and the relay fails with ErrorKind::network and
//    sys_errno ECONNRESET; a reset after it (the kernel reports EPIPE, or ECONNRESET once
//    the FIN was read) only ends the sending, and the relay succeeds. Data that arrived
//    before a reset is still written out. (splice(2) into a TCP socket can swallow a reset's
//    error; the relay then asks the kernel whether a FIN ever came, see relay.cpp.)
#include "util/fd.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <nettool/error.hpp>
#include <nettool/event_loop.hpp>
#include <nettool/pump.hpp>
#include <nettool/splice_pump.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace nettool {

// One direction: a SplicePump where both ends allow it, a Pump otherwise (the same contract).
class Channel {
  public:
    virtual ~Channel() = default;
    virtual Status step() = 0;
    virtual bool wants_read() const = 0;
    virtual bool wants_write() const = 0;
    virtual bool finished() const = 0;
    virtual bool source_ended() const = 0;
    virtual void abandon() = 0;
    virtual Pump::Side failed_side() const = 0;
    virtual int failed_errno() const = 0;
    virtual std::uint64_t bytes_in() const = 0;
    virtual std::uint64_t bytes_out() const = 0;
    virtual int source_fd() const = 0;
    virtual int sink_fd() const = 0;
    virtual bool spliced() const = 0;
};

template <class P> class ChannelOf final : public Channel {
  public:
    explicit ChannelOf(P pump) : m_pump(std::move(pump)) {}
    Status step() override { return m_pump.step(); }
    bool wants_read() const override { return m_pump.wants_read(); }
    bool wants_write() const override { return m_pump.wants_write(); }
    bool finished() const override { return m_pump.finished(); }
    bool source_ended() const override { return m_pump.source_ended(); }
    void abandon() override { m_pump.abandon(); }
    Pump::Side failed_side() const override { return m_pump.failed_side(); }
    int failed_errno() const override { return m_pump.failed_errno(); }
    std::uint64_t bytes_in() const override { return m_pump.bytes_in(); }
    std::uint64_t bytes_out() const override { return m_pump.bytes_out(); }
    int source_fd() const override { return m_pump.source_fd(); }
    int sink_fd() const override { return m_pump.sink_fd(); }
    bool spliced() const override { return std::is_same_v<P, SplicePump>; }

  private:
    P m_pump;
};

template <class P> std::unique_ptr<Channel> make_channel(P pump) {
    return std::make_unique<ChannelOf<P>>(std::move(pump));
}

// Whether a channel may use splice(2). Echo answers with the socket it reads: a private pipe
// per connection would cost two descriptors for bytes that are mostly a few at a time.
enum class Splice { where_possible, never };

// The one way a direction of a relay is made: source -> sink with splice(2) when both ends
// are kernel objects splice can join (stream socket, pipe, regular file, /dev/null) and
// nothing needs to see the bytes (no limit, observer or transform); otherwise a Pump with
// buffers on demand. Connect, serve (relay, echo, exec) and a forwarder all come through here.
Result<std::unique_ptr<Channel>> open_channel(int source_fd, int sink_fd, Pump::Options options,
                                              Splice splice = Splice::where_possible);

// The reset that cut the peer's data short (the reset rule above), said one way by every
// carrier of a connection: the relay and the TLS bridge.
Error reset_before_end_of_data(const std::string& peer_name, std::uint64_t bytes_received);

class Relay {
  public:
    // What the local output gets when the peer's data has ended.
    enum class OutputAtEnd {
        release, // its flags restored, then replaced by /dev/null: the reader sees EOF now
        keep,    // left open (serve -k: standard output carries each client's data in turn)
        close,   // closed (owned_output: a child's stdin, which then sees EOF)
        channel, // the channel's own Pump::Options::at_end does it (echo: the peer itself)
    };

    struct Settings {
        int peer_fd = -1;
        std::string peer_name; // "127.0.0.1:80", for messages
        bool datagram = false; // connected UDP: no end of stream, no half-close
        std::unique_ptr<Channel> from_peer;
        // Input -> peer. Null: nothing is sent (the caller shut the write side down).
        std::unique_ptr<Channel> to_peer;
        OutputAtEnd output_at_end = OutputAtEnd::release;
        // release: the guard that restores the output's flags before it is let go.
        std::optional<util::FlagsGuard>* output_guard = nullptr;
        UniqueFd owned_output; // closed when from_peer is done (OutputAtEnd::close)
        UniqueFd owned_input;  // closed when to_peer is done (a child's stdout)
        // The input is a terminal: the peer's end of data ends the relay.
        bool peer_end_ends_relay = false;
        // The output's reader may leave (a child closing its stdin): then the peer's further
        // data is dropped quietly and the other direction goes on.
        bool output_may_leave = false;
    };

    // Watches the descriptors on `loop`; `changed` runs after every event handled (the owner
    // checks done() there and may destroy the relay only after the handler returned).
    Relay(EventLoop& loop, Settings settings, std::function<void()> changed);
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;
    ~Relay();

    // Moves what can be moved now and starts watching (call once, after construction).
    void start();

    bool done() const { return m_done; }
    // Once done: success, the first hard error, or the reset that cut the data short.
    const Status& result() const { return m_result; }
    // Whether the input still flows to the peer (UDP waits for replies once it stopped).
    bool sending() const { return m_to_peer && !m_to_peer->finished(); }
    // Whether the peer's data has ended (its FIN was read, or the --max-bytes limit).
    bool peer_ended() const { return m_peer_ended; }
    std::uint64_t bytes_from_peer() const { return m_from_peer->bytes_in(); }
    std::uint64_t bytes_to_peer() const;
    // Every byte read or written so far (activity, for idle timeouts).
    std::uint64_t moved() const;
    // Ends it now (idle timeout, grace period over): nothing more moves.
    void abort();

  private:
    void watch(int fd);
    void unwatch(int fd);
    void on_ready(int fd, std::uint32_t ready);
    void step();
    void from_peer_failed(Status status);
    void to_peer_failed(Status status);
    void peer_gone(int err, Status status = {});
    void cut_short();
    void record(Status status);
    void after_from_peer();
    void after_to_peer();
    void update_interest();
    void finish();

    EventLoop& m_loop;
    std::unique_ptr<Channel> m_from_peer;
    std::unique_ptr<Channel> m_to_peer;
    Settings m_settings;
    std::function<void()> m_changed;
    std::vector<int> m_watched;
    Status m_result;
    bool m_peer_hung_up = false; // the peer socket reported a hang-up or an error
    bool m_output_left = false;  // the output's reader went away (output_may_leave)
    bool m_peer_ended = false;
    bool m_output_ended = false;
    bool m_input_ended = false;
    bool m_done = false;
};

} // namespace nettool
