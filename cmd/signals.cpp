#include "signals.hpp"

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <nettool/child_process.hpp>
#include <nettool/stop.hpp>
#include <unistd.h>

namespace nettool::cli {
namespace {
extern "C" void on_stop_signal(int signal_number) {
    // A second Ctrl+C while a graceful stop is under way means "now".
    if (stop_requested() && signal_number == SIGINT) {
        signal_child_groups(SIGKILL); // --exec children lead groups of their own: no orphans
        std::signal(SIGINT, SIG_DFL);
        std::raise(SIGINT);
        return;
    }
    request_stop(signal_number);
}

// Over a file size limit (ulimit -f) write() then fails with EFBIG, which the download reports
// and cleans up after, instead of the process dying. A handler, unlike SIG_IGN, is reset for
// the programs nettool starts.
extern "C" void on_file_size_limit(int) {}
} // namespace

// A script may start nettool with a standard descriptor closed (`<&-`, `>&-`). The first
// descriptor opened would take its number, and the relay would then read from or write into
// whatever that is. /dev/null takes the number instead, opened so that a closed stdin reads
// as empty and a closed stdout refuses writes (EBADF) as a closed one would.
void reserve_standard_descriptors() {
    const int modes[3] = {O_RDONLY, O_RDONLY, O_WRONLY};
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0) continue;
        const int null = ::open("/dev/null", modes[fd]);
        if (null >= 0 && null != fd) {
            ::dup2(null, fd);
            ::close(null);
        }
    }
}

void install_signal_handlers() {
    reserve_standard_descriptors();
    init_stop();
    std::signal(SIGPIPE, SIG_IGN);
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    action.sa_handler = on_file_size_limit;
    sigaction(SIGXFSZ, &action, nullptr);
}

} // namespace nettool::cli
