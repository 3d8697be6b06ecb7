// Inside the HTTP module: nettool/stop.hpp forwards to the binary's stop request, so that a
// signal caught by the binary stops transfers running in the module (there is one stop request
// per process). Linked into the module in place of core's stop.cpp (a second definition would
// be a link error, so the module cannot end up with a stop request of its own).
#include "module_host.hpp"

#include <nettool/stop.hpp>

namespace nettool {
namespace {
const module::HostCalls* g_host = nullptr; // set once by nettool_http_module_open()
} // namespace

void module::set_host(const HostCalls* host) {
    g_host = host;
}

void init_stop() {
    g_host->init_stop();
}
void request_stop(int signal_number) noexcept {
    g_host->request_stop(signal_number);
}
bool stop_requested() noexcept {
    return g_host->stop_signal() != 0;
}
int stop_signal() noexcept {
    return g_host->stop_signal();
}
int stop_fd() noexcept {
    return g_host->stop_fd();
}
void reset_stop_for_tests() {
    g_host->reset_stop_for_tests();
}

} // namespace nettool
