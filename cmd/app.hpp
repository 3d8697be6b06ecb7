#pragma once
// The command line: parse -> options struct -> one core call -> exit code.
#include "run.hpp"

#include <CLI/CLI.hpp>
#include <functional>

namespace nettool::cli {

// A subcommand's parse callback stores here what to run once parsing succeeded; it returns
// the process exit code.
using Action = std::function<int()>;

// One registration function per subcommand, each in cmd/<name>.cpp.
void add_serve(CLI::App& app, Action& action);
void add_connect(CLI::App& app, Action& action);
void add_get(CLI::App& app, Action& action);
void add_retrieve(CLI::App& app, Action& action);
void add_clean(CLI::App& app, Action& action);
void add_ports(CLI::App& app, Action& action);

} // namespace nettool::cli
