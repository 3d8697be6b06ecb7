#pragma once
// connect -z: which TCP ports of a host accept connections. Many ports are tried at once
// (bounded), each port happy-eyeballs style over the host's addresses with its own timeout;
// results are reported in port order as soon as they are known.
#include <chrono>
#include <cstddef>
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <nettool/resolve.hpp>
#include <optional>
#include <string>

namespace nettool {

struct ScanOptions {
    std::string host;
    PortRange ports;
    Family family = Family::any;
    std::optional<SourceAddress> source;
    std::chrono::milliseconds timeout{10'000}; // per port
    std::size_t concurrency = 64;              // ports tried at once
    // Test the ports that are not open again (backoff 100 ms .. 1 s) until all are open or
    // this much time has passed; the results are then reported once, at the end.
    std::optional<std::chrono::milliseconds> wait;
};

struct PortState {
    std::string host;    // as the user wrote it
    std::string address; // the address that accepted, or the first one tried
    std::uint16_t port = 0;
    bool open = false;
    std::string error; // why not open: "connection refused", "timed out after 2s"
};

class ScanObserver {
  public:
    virtual ~ScanObserver() = default;
    virtual void port_done(const PortState& state) = 0; // called in port order
};

struct ScanSummary {
    std::size_t open = 0;
    std::size_t not_open = 0;
};

// Fails only when the scan cannot run at all (resolution, a stop request: interrupted).
Result<ScanSummary> scan_ports(const ScanOptions& options, ScanObserver& observer);

} // namespace nettool
