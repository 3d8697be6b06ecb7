#include "app.hpp"

#include <cstdio>
#include <exception>
#include <fmt/format.h>

#include "messages.hpp"
#include "signals.hpp"
#include "version.hpp"

namespace nettool::cli {
namespace {

// CLI11 throws for usage errors and exits 100+ by default; CLI.md wants 2 with one sentence.
int handle_parse_error(const CLI::App& app, const CLI::ParseError& e) {
    if (dynamic_cast<const CLI::CallForHelp*>(&e) != nullptr ||
        dynamic_cast<const CLI::CallForAllHelp*>(&e) != nullptr ||
        dynamic_cast<const CLI::CallForVersion*>(&e) != nullptr) {
        return app.exit(e); // prints help or version on stdout, returns 0
    }
    std::string where = "nettool --help";
    for (const auto* sub : app.get_subcommands()) where = fmt::format("nettool {} --help", sub->get_name());
    print_error(fmt::format("{}; see '{}'", e.what(), where));
    return exit_code(ErrorKind::usage);
}

} // namespace

int run(int argc, char** argv) {
    CLI::App app{"nettool: a network multi-tool (serve, connect, get, retrieve, clean)", "nettool"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show the help of every subcommand");
    app.set_version_flag("--version", version_text, "Print nettool's version and its libraries'");
    app.footer("Exit status: 0 success, 1 failure, 2 usage, 3 file, 4 network, 5 TLS, 6 auth, "
               "7 protocol, 8 server error, 9 checksum, 130 interrupted. See nettool(1).");

    Action action;
    // Subcommands, one registration per cmd/<name>.cpp (declared in app.hpp).
    add_serve(app, action);
    add_connect(app, action);
    add_get(app, action);
    add_retrieve(app, action);
    add_clean(app, action);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return handle_parse_error(app, e);
    }
    if (!action) return exit_code(ErrorKind::usage); // unreachable: a subcommand is required
    install_signal_handlers();
    try {
        return action();
    } catch (const std::bad_alloc&) {
        print_error("out of memory");
        return exit_code(ErrorKind::generic);
    } catch (const std::exception& e) {
        // A bug, not a user error: say so plainly rather than crash.
        print_error(fmt::format("internal error: {}; please report this", e.what()));
        return exit_code(ErrorKind::generic);
    }
}

} // namespace nettool::cli
