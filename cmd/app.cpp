#include "app.hpp"

#include "common_options.hpp"
#include "messages.hpp"
#include "signals.hpp"
#include "version.hpp"

#include <cstdio>
#include <exception>
#include <fmt/format.h>

namespace nettool::cli {
namespace {

// "nettool SUB --help" for the subcommand being parsed (the top level's without one).
std::string help_hint(CLI::App& app) {
    std::string where = "nettool --help";
    for (const auto* sub : app.get_subcommands())
        where = fmt::format("nettool {} --help", sub->get_name());
    return where;
}

// The same before parsing: the first argument that names a subcommand.
std::string help_hint(CLI::App& app, int argc, const char* const* argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto named = [&arg](CLI::App* sub) { return !arg.empty() && sub->check_name(arg); };
        if (!app.get_subcommands(named).empty()) return fmt::format("nettool {} --help", arg);
    }
    return "nettool --help";
}

// Where the chosen subcommand writes its JSON, so that a failure goes there as one object:
// nullptr without --json. serve's events share stderr (its stdout is the relay's data);
// retrieve with FILE '-' keeps stdout for the data alone (retrieve.cpp makes the same choice
// for its result); the others use stdout.
std::FILE* json_stream(CLI::App& app) {
    for (CLI::App* sub : app.get_subcommands()) {
        const CLI::Option* json = sub->get_option_no_throw("--json");
        if (json == nullptr || json->count() == 0) return nullptr;
        if (sub->get_name() == "serve") return stderr;
        if (const CLI::Option* file = sub->get_option_no_throw("FILE");
            sub->get_name() == "retrieve" && file != nullptr && file->count() > 0 &&
            file->results().front() == "-") {
            return stderr;
        }
        return stdout;
    }
    return nullptr;
}

// CLI11 throws for usage errors and exits 100+ by default; nettool's usage errors exit 2 with
// one sentence (nettool(1), EXIT STATUS).
int handle_parse_error(CLI::App& app, const CLI::ParseError& e) {
    if (dynamic_cast<const CLI::CallForHelp*>(&e) != nullptr ||
        dynamic_cast<const CLI::CallForAllHelp*>(&e) != nullptr ||
        dynamic_cast<const CLI::CallForVersion*>(&e) != nullptr) {
        return app.exit(e); // prints help or version on stdout, returns 0
    }
    report_errors_as_json(json_stream(app));
    if (const auto* failure = dynamic_cast<const ParseFailure*>(&e))
        return report(failure->error());
    return report(Error{ErrorKind::usage, fmt::format("{}; see '{}'", e.what(), help_hint(app))});
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
    // An empty value is a usage error everywhere, except where it has a meaning of its own
    // (nettool(1), "EMPTY VALUES"): --send '' sends nothing, -d '' and --data-binary '' send an
    // empty body, --proxy '' uses no proxy at all (curl's habit). URLs, endpoints and -A are
    // refused by their own checks, with their own sentences.
    for (CLI::App* sub : app.get_subcommands({})) {
        forbid_empty_values(*sub, {"--send", "--data", "--data-binary", "--proxy", "--user-agent",
                                   "URL", "endpoint", "target"});
    }

    if (auto empty = empty_attached_value(argc, argv)) {
        return report(Error{ErrorKind::usage,
                            fmt::format("{}; see '{}'", *empty, help_hint(app, argc, argv))});
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return handle_parse_error(app, e);
    }
    if (!action) return exit_code(ErrorKind::usage); // unreachable: a subcommand is required
    report_errors_as_json(json_stream(app));
    install_signal_handlers();
    try {
        return action();
    } catch (const std::bad_alloc&) {
        return report(Error{ErrorKind::generic, "out of memory"});
    } catch (const std::exception& e) {
        // A bug, not a user error: say so plainly rather than crash.
        return report(Error{ErrorKind::generic,
                            fmt::format("internal error: {}; please report this", e.what())});
    }
}

} // namespace nettool::cli
