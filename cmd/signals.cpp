#include "signals.hpp"

#include <csignal>
#include <cstring>
#include <nettool/stop.hpp>

namespace nettool::cli {
namespace {
extern "C" void on_stop_signal(int signal_number) {
    // A second Ctrl+C while a graceful stop is under way means "now".
    if (stop_requested() && signal_number == SIGINT) {
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

void install_signal_handlers() {
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
