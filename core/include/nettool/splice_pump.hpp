#pragma once
// A Pump (same contract: non-blocking, step() when ready, wants_read/wants_write, the reset
// read as a failure, the sink's end-of-stream action) that moves bytes with splice(2): they
// never enter user space. It serves every pair of ends splice can join:
//  - the sink is a pipe (stdout on a pipe, an --exec child's stdin): one splice from the
//    source straight into the sink, no buffer at all;
//  - it is not (socket -> socket, socket -> file or /dev/null, file or pipe -> socket):
//    through a private pipe, so that a source pipe's lock is held only while its buffers
//    move, not while the sink is written (create() says what that measured);
//  - a TCP socket into /dev/null: recv(MSG_TRUNC) drops the bytes in the kernel, one call and
//    no pipe (a relay into /dev/null, e.g. a throughput sink, spends about a third less CPU:
//    4 GiB from connect on loopback took 2.5-2.8 s instead of 3.3-3.5 s); with
//    Options::lazy_discard it is woken only once a batch waits (SO_RCVLOWAT).
// A pipe, private or not, starts at its size (the kernel's default 64 KiB) and is grown to
// 1 MiB when a transfer fills it: 16 pages a call cost several times the CPU of 256 (head
// | connect moving 2 GiB: 2.8-3.2 s of CPU in all at 64 KiB, 1.7-2.0 s at 1 MiB).
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/pump.hpp>
#include <nettool/unique_fd.hpp>
#include <string>

namespace nettool {

class SplicePump {
  public:
    // Whether splice(2) can read from fd: a stream socket, a pipe or a regular file.
    static bool suitable_source(int fd);
    // Whether splice(2) can write to fd: a stream socket, a pipe, a regular file not opened
    // with O_APPEND (splice refuses those), or /dev/null. Terminals are left to Pump.
    static bool suitable_sink(int fd);

    // options: the names and at_end are used; a limit, observer or transform needs a Pump.
    static Result<SplicePump> create(int source_fd, int sink_fd, Pump::Options options);

    Status step();
    bool wants_read() const;
    bool wants_write() const;
    bool finished() const { return m_finished; }
    bool source_ended() const { return m_source_ended; }
    void abandon() { m_finished = true; }
    Pump::Side failed_side() const { return m_failed_side; }
    int failed_errno() const { return m_failed_errno; }

    std::uint64_t bytes_in() const { return m_bytes_in; }
    std::uint64_t bytes_out() const { return m_bytes_out; }
    int source_fd() const { return m_source; }
    int sink_fd() const { return m_sink; }
    // Whether bytes go straight from source to sink (the sink is a pipe).
    bool direct() const { return m_way == Way::direct; }
    // Whether bytes are dropped in the kernel (a TCP socket into /dev/null).
    bool discards() const { return m_way == Way::discard; }

  private:
    SplicePump(int source_fd, int sink_fd, Pump::Options options);
    Status step_direct();
    Status step_through_pipe();
    Status step_discard();
    static void grow(int pipe_fd);
    void grow_source_if_emptied(std::size_t moved);
    void finish();
    Status failed(Pump::Side side, int err);

    int m_source;
    int m_sink;
    Pump::Options m_options;
    enum class Way { direct, through_pipe, discard };
    Way m_way = Way::through_pipe;
    UniqueFd m_pipe_read; // the private pipe (not direct)
    UniqueFd m_pipe_write;
    std::size_t m_pipe_size = 0;   // the private pipe's
    std::size_t m_source_size = 0; // the source pipe's size, 0 once grown or not a pipe
    std::size_t m_sink_size = 0;   // direct: the sink pipe's size, 0 once grown or not a pipe
    std::size_t m_pending = 0;     // bytes in the private pipe
    bool m_sink_full = false;      // direct: the last splice waited for the sink, not the source
    bool m_source_ended = false;
    bool m_finished = false;
    Pump::Side m_failed_side = Pump::Side::none;
    int m_failed_errno = 0;
    std::uint64_t m_bytes_in = 0;
    std::uint64_t m_bytes_out = 0;
};

} // namespace nettool
