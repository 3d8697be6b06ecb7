#pragma once

namespace nettool::cli {

// SIGPIPE is ignored (a closed peer is an error to report, never a silent death);
// SIGINT and SIGTERM request a stop that core/'s loops see (nettool/stop.hpp). The handlers
// are installed without SA_RESTART so blocking calls return EINTR and loops re-check. It first
// puts /dev/null on any standard descriptor that is closed (before anything else is opened).
void install_signal_handlers();

} // namespace nettool::cli
