#pragma once
// The relay loop of connect (internal to core/): two Pumps between a connected socket and a
// pair of descriptors, one poll() loop that also watches stop_fd().
#include <chrono>
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/hexdump.hpp>
#include <optional>
#include <string>

namespace nettool {

struct RelaySettings {
    int input_fd = -1; // -1: no input (the write side is shut down at once)
    int output_fd = 1;
    bool datagram = false; // UDP: each read of the input is one datagram
    std::optional<std::chrono::milliseconds> idle_timeout;
    std::optional<std::uint64_t> max_bytes;
    bool crlf = false;
    HexDump* hexdump = nullptr;
    std::string peer_name; // "127.0.0.1:80" for messages
};

// Runs until the peer closes (and its data is written out), --max-bytes is reached, or a stop
// is requested; input EOF half-closes the connection and keeps reading.
Status relay_connection(int socket_fd, const RelaySettings& settings);

} // namespace nettool
