#pragma once
// What the parts of `serve` share (private to core/).
#include "util/fd.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <nettool/event_loop.hpp>
#include <nettool/listener.hpp>
#include <nettool/serve.hpp>
#include <nettool/tls.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace nettool::serve_detail {

using Clock = std::chrono::steady_clock;

// What the event loops of one server (--workers) share: the global --max-conns count, and a
// way to wake every loop (a slot came free, or a worker failed and all must stop). With one
// worker it is the same code with one loop to wake.
class SharedState {
  public:
    explicit SharedState(std::optional<std::size_t> max_conns) : m_max(max_conns) {}
    SharedState(const SharedState&) = delete;
    SharedState& operator=(const SharedState&) = delete;

    // A worker's wake-up descriptor (an eventfd it watches); all are added before any runs.
    Result<int> add_worker();

    // --max-conns: takes a slot for a connection about to be accepted; false when none is free.
    bool take_slot();
    // Gives a slot back (the connection ended, or accept found nobody); wakes the workers
    // when the server was full, since they stopped accepting.
    void give_slot();
    bool full() const { return m_max && m_open.load(std::memory_order_relaxed) >= *m_max; }

    // A worker failed: every worker stops as SIGTERM would stop it.
    void stop_all();
    bool stopping() const { return m_stopping.load(); }

    // Empties a wake-up descriptor after it fired.
    static void drain(int wake_fd);

  private:
    void wake_all();

    std::optional<std::size_t> m_max;
    std::atomic<std::size_t> m_open{0};
    std::atomic<bool> m_stopping{false};
    std::vector<UniqueFd> m_wake;
};

// serve --to: one target, resolved when serve starts (names are not looked up per connection:
// the event loop never waits for a resolver).
struct ForwardTarget {
    std::string name;                     // as written: "backend:80", "unix:/run/app.sock"
    std::vector<SocketAddress> addresses; // happy-eyeballs order
    // --to-tls: a client context made for this target's host (the name checked, the SNI).
    std::optional<tls::Context> tls;
};

struct ServeContext {
    ServeContext(const ServeOptions& o, ServeObserver& obs, SharedState& s)
        : options(o), observer(obs), shared(s) {}

    const ServeOptions& options;
    ServeObserver& observer; // with several workers, one that serialises the calls
    SharedState& shared;
    int wake_fd = -1; // this worker's, from SharedState::add_worker()
    // Created before any worker accepts: once clients hold every descriptor, a worker that
    // had yet to create its loop could not, and its failure would end the server.
    std::optional<EventLoop> loop;
    std::vector<Listener> listeners;
    const std::vector<ForwardTarget>* targets = nullptr; // --to, shared by the workers
    int file = -1; // --send-file, opened once; each connection sends it from its own offset
    const tls::Context* tls = nullptr; // --tls, made once, shared by the workers
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
