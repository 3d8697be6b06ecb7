#pragma once
// connect --hexdump FILE: both directions of a connection as a hex dump, in the spirit of
// ncat -x and nc110 -o. One line per up to 16 bytes of one chunk:
//   > 00000000  48 65 6c 6c 6f 0a                                 |Hello.|
// '>' is data sent to the peer, '<' data received; the offset counts that direction's bytes.
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
#include <span>
#include <string>

namespace nettool {

// The dump lines for one chunk (pure, for tests and for HexDump).
std::string hexdump_lines(char direction, std::uint64_t offset, std::span<const char> data);

class HexDump {
  public:
    // Creates or truncates the file; fails with ErrorKind::file_io naming it.
    static Result<HexDump> open(const std::string& path);

    void sent(std::span<const char> data) { write('>', m_sent, data); }
    void received(std::span<const char> data) { write('<', m_received, data); }
    // The first write error, if any (a full disk must not go unnoticed).
    const Status& status() const { return m_status; }

  private:
    HexDump(UniqueFd fd, std::string path) : m_fd(std::move(fd)), m_path(std::move(path)) {}
    void write(char direction, std::uint64_t& offset, std::span<const char> data);

    UniqueFd m_fd;
    std::string m_path;
    std::uint64_t m_sent = 0;
    std::uint64_t m_received = 0;
    Status m_status;
};

} // namespace nettool
