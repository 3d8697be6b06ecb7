#pragma once
// The size of the terminal that stderr shows, and whether it changed (SIGWINCH), for the
// progress display.
#include <cstddef>
#include <optional>

namespace nettool::cli {

struct TerminalSize {
    std::size_t columns = 80;
    std::size_t rows = 24;
};

// TIOCGWINSZ on `fd`; nothing when it is not a terminal or reports no size (0 x 0).
std::optional<TerminalSize> terminal_size(int fd);

// While one exists, SIGWINCH sets a flag that resized() takes. The handler only stores to a
// lock-free atomic, is installed with SA_RESTART (a resize never makes a read or write fail
// with EINTR) and leaves SIGINT and SIGTERM to signals.cpp; the one it replaced comes back when
// the watch goes. One watch at a time.
class ResizeWatch {
  public:
    ResizeWatch();
    ~ResizeWatch();
    ResizeWatch(const ResizeWatch&) = delete;
    ResizeWatch& operator=(const ResizeWatch&) = delete;

    // True once after each resize (or burst of them) since the last call.
    bool resized();
};

} // namespace nettool::cli
