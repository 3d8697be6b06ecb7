#pragma once
// What the parts of `serve` share (private to core/).
#include "util/fd.hpp"

#include <chrono>
#include <cstdint>
#include <nettool/listener.hpp>
#include <nettool/serve.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <vector>

namespace nettool::serve_detail {

using Clock = std::chrono::steady_clock;

struct ServeContext {
    const ServeOptions& options;
    ServeObserver& observer;
    std::vector<Listener> listeners;
    UniqueFd file; // --send-file, opened once; each connection sends it from its own offset
    // Relay: stdin and stdout are made non-blocking; the guards put their flags back (the
    // relay lets go of stdout early, restoring its flags first, when a client's data ends).
    bool input_open = false;
    std::optional<util::FlagsGuard> input_guard;
    std::optional<util::FlagsGuard> output_guard;
};

Status serve_streams(ServeContext& context);   // serve_stream.cpp
Status serve_datagrams(ServeContext& context); // serve_udp.cpp

inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace nettool::serve_detail
