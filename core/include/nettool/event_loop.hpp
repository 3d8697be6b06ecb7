#pragma once
// A small level-triggered readiness loop (epoll on Linux, core/src/event_loop_epoll.cpp).
// Handlers are keyed by descriptor; a handler may add or remove any descriptor, including its
// own, while it runs. A descriptor asked for no events is taken out of the kernel's set, so a
// hang-up that nobody wants to hear about cannot spin the loop.
//
// Descriptors that epoll cannot watch (regular files, /dev/null: they never block) are
// reported ready for whatever is asked on every turn, as poll() would.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

namespace nettool {

namespace io {
inline constexpr std::uint32_t readable = 1;
inline constexpr std::uint32_t writable = 2;
// Reported whenever they happen to a descriptor in the kernel's set. Asking for `hangup` alone
// keeps a descriptor there (to learn that a peer reset) without asking for data.
inline constexpr std::uint32_t hangup = 4;
inline constexpr std::uint32_t error = 8; // reported, never asked for
} // namespace io

class EventLoop {
  public:
    using Handler = std::function<void(std::uint32_t ready)>;

    static Result<EventLoop> create();

    // Watches fd for `events` (io::readable | io::writable, possibly 0 for "not now").
    Status add(int fd, std::uint32_t events, Handler handler);
    // Changes what fd is watched for; cheap when nothing changes.
    Status set_events(int fd, std::uint32_t events);
    // Forgets fd (before it is closed).
    void remove(int fd);
    bool watching(int fd) const { return m_watches.count(fd) != 0; }

    // Waits until a descriptor is ready or `timeout` passed (nullopt: no limit), then runs the
    // handlers of the ready descriptors. EINTR is not an error.
    Status run_once(std::optional<std::chrono::milliseconds> timeout);

  private:
    struct Watch {
        std::uint64_t token = 0;
        std::uint32_t events = 0;
        bool in_kernel = false;
        bool pollable = true; // false: always ready (see above)
        std::shared_ptr<Handler> handler;
    };
    explicit EventLoop(UniqueFd epoll) : m_epoll(std::move(epoll)) {}
    Status sync(int fd, Watch& watch);

    UniqueFd m_epoll;
    std::unordered_map<int, Watch> m_watches;
    // The few descriptors epoll refused (files, /dev/null): each turn looks at these only,
    // never at every watch (a server may hold ten thousand).
    std::vector<int> m_unpollable;
    std::uint64_t m_next_token = 1;
};

} // namespace nettool
