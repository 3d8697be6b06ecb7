#include <atomic>
#include <cstdint>
#include <nettool/stop.hpp>
#include <sys/eventfd.h>
#include <unistd.h>

namespace nettool {
namespace {
std::atomic<int> g_signal{0};
std::atomic<int> g_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need lock-free atomics");
} // namespace

void init_stop() {
    if (g_fd.load() >= 0) return;
    g_fd.store(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

void request_stop(int signal_number) noexcept {
    int expected = 0;
    g_signal.compare_exchange_strong(expected, signal_number);
    const int fd = g_fd.load();
    if (fd >= 0) {
        const std::uint64_t one = 1;
        // Nothing to do on failure: the counter can only overflow after 2^64 signals.
        [[maybe_unused]] auto ignored = ::write(fd, &one, sizeof one);
    }
}

bool stop_requested() noexcept {
    return g_signal.load() != 0;
}
int stop_signal() noexcept {
    return g_signal.load();
}
int stop_fd() noexcept {
    return g_fd.load();
}

void restart_stop_after_fork() {
    g_signal.store(0);
    g_fd.store(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

void reset_stop_for_tests() {
    g_signal.store(0);
    const int fd = g_fd.load();
    if (fd >= 0) {
        std::uint64_t value = 0;
        [[maybe_unused]] auto ignored = ::read(fd, &value, sizeof value);
    }
}

} // namespace nettool
