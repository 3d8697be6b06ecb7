#pragma once
// What the parts of `serve` share (private to core/).
#include <chrono>
#include <cstdint>
#include <nettool/listener.hpp>
#include <nettool/serve.hpp>
#include <nettool/unique_fd.hpp>
#include <vector>

namespace nettool::serve_detail {

using Clock = std::chrono::steady_clock;

struct ServeContext {
    const ServeOptions& options;
    ServeObserver& observer;
    std::vector<Listener> listeners;
    UniqueFd file; // --send-file, opened once; each connection sends it from its own offset
};

Status serve_streams(ServeContext& context);   // serve_stream.cpp
Status serve_datagrams(ServeContext& context); // serve_udp.cpp

inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace nettool::serve_detail
