#pragma once
// A Pump moves bytes one way, from a readable descriptor to a writable one, without ever
// blocking: the caller's loop (poll or epoll) asks what it waits for and calls step() when
// a descriptor is ready. Two pumps make a duplex relay (connect, serve's relay/exec/echo).
//
// End of stream is propagated, which is what nc gets wrong: when the source reports EOF and
// the buffer is drained, the pump half-closes the sink (shutdown(SHUT_WR) on a socket, or
// close() of a sink the pump owns, e.g. a child's stdin pipe), so the far side sees EOF while
// the other direction keeps flowing.
//
// Memory on demand: a pump reads into one buffer its thread shares with every other pump and
// writes from there at once; only bytes the sink cannot take now move into a buffer of the
// pump's own, which it keeps while data flows and gives back as soon as the source has
// nothing more (EAGAIN). An idle connection therefore holds no buffer at all.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nettool/error.hpp>
#include <optional>
#include <span>
#include <string>

namespace nettool {

class Pump {
  public:
    struct Options {
        // The most read at once, and the size of the pump's own buffer while it holds data.
        std::size_t buffer_size = 256 * 1024;
        // Stop after this many bytes from the source (connect --max-bytes); the pump then
        // finishes as if the source had ended.
        std::optional<std::uint64_t> limit;
        // The most reads (or splices) one step() makes before it returns, so that one busy
        // connection cannot keep the loop from the others.
        int rounds_per_step = 64;
        // Sees every chunk as read from the source, before it is transformed (hexdump, logs).
        std::function<void(std::span<const char>)> observe;
        // Rewrites a chunk before it is written (connect --crlf). Appends to `out`.
        std::function<void(std::span<const char> in, std::string& out)> transform;
        // What to do with the sink at end of stream.
        enum class AtEnd {
            half_close_socket,
            close_sink,
            nothing
        } at_end = AtEnd::half_close_socket;
        // A TCP source drained into /dev/null may wake the loop only once a batch of bytes
        // waits (or the stream ends or fails), not at every arrival: a throughput sink then
        // spends less CPU. Left off where something times the connection by the bytes it
        // moves (an idle timeout), since bytes below the batch are read only later.
        bool lazy_discard = false;
        // Names used in error messages: "read from the connection: connection reset by peer".
        std::string source_name = "input";
        std::string sink_name = "output";
    };

    Pump(int source_fd, int sink_fd, Options options);
    Pump(int source_fd, int sink_fd) : Pump(source_fd, sink_fd, Options{}) {}

    // Moves as much as it can without blocking. An error is final (the pump is finished).
    Status step();

    // What the loop should wait for. Both false once finished.
    bool wants_read() const;
    bool wants_write() const;
    bool finished() const { return m_finished; }
    // True when the source ended (EOF, limit) as opposed to the pump being abandoned.
    bool source_ended() const { return m_source_ended; }

    // After step() failed: which descriptor failed and the errno, so callers can tell "the
    // peer went away" (EPIPE on the sink) from a local problem without parsing messages. A
    // reset read from the source (ECONNRESET) is such a failure, not an end of stream: the
    // relay decides whether it cut the data short (see core/src/relay.hpp).
    enum class Side { none, source, sink };
    Side failed_side() const { return m_failed_side; }
    int failed_errno() const { return m_failed_errno; }

    // Stops reading (e.g. the peer is gone); data already buffered is still written.
    void stop_reading();
    // Gives up entirely: nothing more is read or written, the sink is left alone.
    void abandon();

    std::uint64_t bytes_in() const { return m_bytes_in; }
    std::uint64_t bytes_out() const { return m_bytes_out; }
    int source_fd() const { return m_source; }
    int sink_fd() const { return m_sink; }
    // Whether the pump holds a buffer of its own now (it does only while data waits).
    bool holds_buffer() const {
        return m_own != nullptr || m_transformed.capacity() > std::string().capacity();
    }

    // What a pump (or a SplicePump) does to its sink at end of stream; closing sets it to -1.
    static void end_sink(int& sink_fd, Options::AtEnd at_end);

  private:
    Status run();
    Status read_some();
    Status write_some();
    void keep_pending();
    void release_buffers();
    void finish_if_drained();

    int m_source;
    int m_sink;
    Options m_options;
    std::unique_ptr<char[]> m_own; // buffer_size bytes, only while data waits for the sink
    char* m_data = nullptr;        // where pending output is: m_own or the thread's buffer
    std::string m_transformed;     // pending output when a transform is set
    std::size_t m_begin = 0;       // pending output in m_data is [m_begin, m_end)
    std::size_t m_end = 0;
    bool m_source_ended = false;
    bool m_finished = false;
    Side m_failed_side = Side::none;
    int m_failed_errno = 0;
    std::uint64_t m_bytes_in = 0;
    std::uint64_t m_bytes_out = 0;
};

} // namespace nettool
