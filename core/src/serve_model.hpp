#pragma once
// serve --model thread|fork: the server's loop only accepts; each connection is one Connection
// (serve_connection.hpp) served alone on an event loop of its own, in a thread (socketserver's
// ThreadingMixIn) or in a forked process (ForkingMixIn). Its end reaches the server's loop as
// a readable descriptor (an eventfd, a pidfd), so the server never blocks and never walks its
// sessions; what it reports is what the connection reported, as with --model event.
#include "serve_connection.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace nettool::serve_detail {

// How a connection served alone ended: what the server reports for it.
struct Finished {
    bool announced = false;
    ConnectionInfo info;
    Status outcome;
    std::optional<ChildProcess> child; // --exec: the program, whose group is still to be ended
};

// Serves one connection on an event loop of its own until it is done (idle timeout, PROXY
// header wait and the forwarder's connect all run there). `abort_fd` turning readable ends
// it at once (the server's grace period is over).
Finished serve_alone(ServeContext& context, UniqueFd socket, ConnectionInfo info, int abort_fd);

// The most connections at once: --max-conns, or for thread and fork a default (each costs a
// thread or a process, which an unbounded burst must not be able to exhaust).
std::optional<std::size_t> connection_cap(const ServeOptions& options);

// A connection in a thread of its own, joined before its slot is given back.
std::unique_ptr<Session> make_thread_session(ServeContext& context, EventLoop& loop,
                                             UniqueFd socket, ConnectionInfo info,
                                             std::function<void()> changed);
// A connection in a forked process of its own, reaped (pidfd) before its slot is given back.
std::unique_ptr<Session> make_fork_session(ServeContext& context, EventLoop& loop, UniqueFd socket,
                                           ConnectionInfo info, std::function<void()> changed);

// What a forked child tells its parent when its connection is over (everything but the
// child process, which the forked child ends itself): one small record through a pipe.
std::string encode_finished(const Finished& finished);
std::optional<Finished> decode_finished(std::string_view record);

} // namespace nettool::serve_detail
