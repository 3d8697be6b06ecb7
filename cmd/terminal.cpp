#include "terminal.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
#include <sys/ioctl.h>

namespace nettool::cli {
namespace {

std::atomic<bool> g_resized{false};
static_assert(std::atomic<bool>::is_always_lock_free,
              "a signal handler may only use lock-free atomics");
struct sigaction g_previous_winch {};

extern "C" void on_window_change(int) {
    g_resized.store(true, std::memory_order_relaxed);
}

} // namespace

std::optional<TerminalSize> terminal_size(int fd) {
    winsize size{};
    if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return std::nullopt;
    // A terminal that reports columns but no rows: as many rows as a classic one.
    return TerminalSize{size.ws_col, size.ws_row > 0 ? size.ws_row : std::size_t{24}};
}

ResizeWatch::ResizeWatch() {
    g_resized.store(false, std::memory_order_relaxed);
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = on_window_change;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &action, &g_previous_winch);
}

ResizeWatch::~ResizeWatch() {
    sigaction(SIGWINCH, &g_previous_winch, nullptr);
}

bool ResizeWatch::resized() {
    return g_resized.exchange(false, std::memory_order_relaxed);
}

} // namespace nettool::cli
