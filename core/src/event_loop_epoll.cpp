#include <algorithm>
#include <array>
#include <cerrno>
#include <fmt/format.h>
#include <nettool/event_loop.hpp>
#include <sys/epoll.h>
#include <vector>

namespace nettool {
namespace {

std::uint32_t to_epoll(std::uint32_t events) {
    return ((events & io::readable) ? EPOLLIN : 0u) | ((events & io::writable) ? EPOLLOUT : 0u);
}

std::uint32_t from_epoll(std::uint32_t events) {
    std::uint32_t out = 0;
    if (events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP)) out |= io::readable;
    if (events & EPOLLOUT) out |= io::writable;
    if (events & EPOLLHUP) out |= io::hangup;
    if (events & EPOLLERR) out |= io::error;
    return out;
}

// epoll's data word carries the descriptor and a token, so that an event for a descriptor
// that was closed and reused within the same batch is recognised as stale.
std::uint64_t pack(int fd, std::uint64_t token) {
    return (token << 32) | static_cast<std::uint32_t>(fd);
}

} // namespace

Result<EventLoop> EventLoop::create() {
    UniqueFd fd(::epoll_create1(EPOLL_CLOEXEC));
    if (!fd) {
        const int err = errno;
        return fail(ErrorKind::file_io,
                    fmt::format("cannot create the event loop: {}", errno_text(err)));
    }
    return EventLoop(std::move(fd));
}

Status EventLoop::add(int fd, std::uint32_t events, Handler handler) {
    if (m_watches.count(fd) != 0) remove(fd);
    Watch watch;
    watch.token = m_next_token++ & 0xffffffffu;
    watch.handler = std::make_shared<Handler>(std::move(handler));
    auto [it, inserted] = m_watches.emplace(fd, std::move(watch));
    it->second.events = events;
    if (auto s = sync(fd, it->second); !s) {
        m_watches.erase(it);
        return s;
    }
    return {};
}

Status EventLoop::set_events(int fd, std::uint32_t events) {
    const auto it = m_watches.find(fd);
    if (it == m_watches.end()) return {};
    if (it->second.events == events &&
        (it->second.in_kernel || events == 0 || !it->second.pollable))
        return {};
    it->second.events = events;
    return sync(fd, it->second);
}

Status EventLoop::sync(int fd, Watch& watch) {
    if (!watch.pollable) return {};
    epoll_event ev{};
    ev.events = to_epoll(watch.events);
    ev.data.u64 = pack(fd, watch.token);
    int rc = 0;
    if (watch.events == 0) {
        if (watch.in_kernel) rc = ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
        watch.in_kernel = false;
    } else if (watch.in_kernel) {
        rc = ::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev);
    } else {
        rc = ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev);
        if (rc == 0) {
            watch.in_kernel = true;
        } else if (errno == EPERM) { // a regular file or /dev/null: never blocks
            watch.pollable = false;
            m_unpollable.push_back(fd);
            rc = 0;
        }
    }
    if (rc != 0) {
        const int err = errno;
        return fail(kind_of_socket_errno(err),
                    fmt::format("cannot watch descriptor {}: {}", fd, errno_text(err)));
    }
    return {};
}

void EventLoop::remove(int fd) {
    const auto it = m_watches.find(fd);
    if (it == m_watches.end()) return;
    if (it->second.in_kernel) ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    if (!it->second.pollable) std::erase(m_unpollable, fd);
    m_watches.erase(it);
}

Status EventLoop::run_once(std::optional<std::chrono::milliseconds> timeout) {
    // Descriptors that are always ready make this turn a non-blocking one.
    std::vector<std::pair<int, std::uint64_t>> always;
    for (const int fd : m_unpollable) {
        const Watch& watch = m_watches.at(fd);
        if (watch.events != 0) always.emplace_back(fd, watch.token);
    }
    int wait_ms = -1;
    if (!always.empty())
        wait_ms = 0;
    else if (timeout)
        wait_ms = static_cast<int>(
            std::clamp<std::chrono::milliseconds::rep>(timeout->count(), 0, 1 << 30));

    std::array<epoll_event, 64> events{};
    const int n =
        ::epoll_wait(m_epoll.get(), events.data(), static_cast<int>(events.size()), wait_ms);
    if (n < 0) {
        if (errno == EINTR) return {};
        const int err = errno;
        return fail(ErrorKind::generic, fmt::format("event loop: {}", errno_text(err)));
    }
    const auto dispatch = [this](int fd, std::uint64_t token, std::uint32_t ready) {
        const auto it = m_watches.find(fd);
        if (it == m_watches.end() || it->second.token != token) return; // removed meanwhile
        const auto handler = it->second.handler; // keeps it alive if the handler removes fd
        (*handler)(ready);
    };
    for (int i = 0; i < n; ++i) {
        const auto data = events[static_cast<std::size_t>(i)].data.u64;
        dispatch(static_cast<int>(data & 0xffffffffu), data >> 32,
                 from_epoll(events[static_cast<std::size_t>(i)].events));
    }
    for (const auto& [fd, token] : always) {
        const auto it = m_watches.find(fd);
        if (it != m_watches.end() && it->second.token == token)
            dispatch(fd, token, it->second.events);
    }
    return {};
}

} // namespace nettool
