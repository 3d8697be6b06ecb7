#pragma once
// A Pump (same contract: non-blocking, step() when ready, wants_read/wants_write) that moves
// bytes from a stream socket to a pipe, regular file or /dev/null with splice(2) through a
// private pipe: the bytes never enter user space. serve's relay uses it for socket -> stdout,
// the bulk direction (4 GiB to /dev/null moves several times faster than read()+write()).
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/pump.hpp>
#include <nettool/unique_fd.hpp>
#include <string>

namespace nettool {

class SplicePump {
  public:
    // Whether splice(2) can write to sink_fd: a pipe, a regular file not opened with O_APPEND,
    // or /dev/null. (Terminals and sockets cannot take spliced pages.)
    static bool suitable_sink(int sink_fd);

    static Result<SplicePump> create(int source_fd, int sink_fd, std::string source_name,
                                     std::string sink_name);

    Status step();
    bool wants_read() const { return !m_finished && !m_source_ended && m_pending == 0; }
    bool wants_write() const { return !m_finished && m_pending > 0; }
    bool finished() const { return m_finished; }
    bool source_ended() const { return m_source_ended; }
    void abandon() { m_finished = true; }
    // As Pump's: after step() failed, which side and the errno (a reset read is a failure).
    Pump::Side failed_side() const { return m_failed_side; }
    int failed_errno() const { return m_failed_errno; }

    std::uint64_t bytes_in() const { return m_bytes_in; }
    std::uint64_t bytes_out() const { return m_bytes_out; }
    int source_fd() const { return m_source; }
    int sink_fd() const { return m_sink; }

  private:
    SplicePump(int source_fd, int sink_fd, UniqueFd pipe_read, UniqueFd pipe_write,
               std::string source_name, std::string sink_name);

    int m_source;
    int m_sink;
    UniqueFd m_pipe_read;
    UniqueFd m_pipe_write;
    std::string m_source_name;
    std::string m_sink_name;
    Status failed(Pump::Side side, int err, ErrorKind kind, const std::string& what);

    std::size_t m_pending = 0; // bytes in the private pipe
    bool m_source_ended = false;
    bool m_finished = false;
    Pump::Side m_failed_side = Pump::Side::none;
    int m_failed_errno = 0;
    std::uint64_t m_bytes_in = 0;
    std::uint64_t m_bytes_out = 0;
};

} // namespace nettool
