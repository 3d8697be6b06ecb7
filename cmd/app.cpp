#include "app.hpp"

#include "common_options.hpp"
#include "help.hpp"
#include "messages.hpp"
#include "option_listing.hpp"
#include "signals.hpp"
#include "usage_hints.hpp"
#include "version.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <fmt/format.h>
#include <iterator>
#include <optional>
#include <string_view>

namespace nettool::cli {
namespace {

// "nettool SUB --help" for the subcommand named on the command line (the top level's without
// one).
std::string help_hint(const ScannedArguments& scanned) {
    if (scanned.subcommand == nullptr) return "nettool --help";
    return fmt::format("nettool {} --help", scanned.subcommand->get_name());
}

// Where a subcommand's JSON goes, so that a failure goes there as one object: nullptr without
// --json. serve's events share stderr (its stdout is the relay's data); retrieve with FILE '-'
// keeps stdout for the data alone (retrieve.cpp makes the same choice for its result); the
// others use stdout.
std::FILE* json_stream(const ScannedArguments& scanned) {
    if (scanned.subcommand == nullptr || !scanned.json) return nullptr;
    const std::string sub = scanned.subcommand->get_name();
    if (sub == "serve") return stderr;
    if (sub == "retrieve" && scanned.operands.size() > 1 && scanned.operands[1] == "-")
        return stderr;
    return stdout;
}

// CLI11 throws for usage errors and exits 100+ by default; nettool's usage errors exit 2 with
// one sentence (nettool(1), EXIT STATUS).
int handle_parse_error(CLI::App& app, const CLI::ParseError& e, const ScannedArguments& scanned) {
    if (dynamic_cast<const CLI::CallForHelp*>(&e) != nullptr ||
        dynamic_cast<const CLI::CallForAllHelp*>(&e) != nullptr ||
        dynamic_cast<const CLI::CallForVersion*>(&e) != nullptr || e.get_exit_code() == 0) {
        return app.exit(e); // prints help or version on stdout, returns 0
    }
    report_errors_as_json(json_stream(scanned));
    if (const auto* failure = dynamic_cast<const ParseFailure*>(&e))
        return report(failure->error());
    if (auto habit = misread_habit(scanned)) return report(Error{ErrorKind::usage, *habit});
    return report(
        Error{ErrorKind::usage, fmt::format("{}; see '{}'", e.what(), help_hint(scanned))});
}

// `nettool help [SUBCOMMAND]`: the help of nettool or of one subcommand, on stdout.
int print_help(CLI::App& app, int argc, const char* const* argv) {
    if (argc > 3) {
        return report(Error{ErrorKind::usage,
                            "help takes one subcommand at most: 'nettool help SUBCOMMAND'"});
    }
    std::string text;
    const std::string_view what = argc < 3 ? "" : argv[2];
    if (argc < 3 || what == "help" || what == "-h" || what == "--help") {
        text = app.help();
    } else {
        const std::string name = argv[2];
        auto named = app.get_subcommands(
            [&name](CLI::App* sub) { return !sub->get_name().empty() && sub->get_name() == name; });
        if (named.empty()) {
            const char* args[] = {argv[0], argv[2]};
            auto scanned = scan_arguments(app, 2, args);
            return report(Error{ErrorKind::usage,
                                scanned.problem.value_or("'" + name + "' is not a subcommand")});
        }
        text = named.front()->help(app.get_name());
    }
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
        return report(Error{ErrorKind::file_io, "cannot write the help to standard output"});
    return 0;
}

} // namespace

namespace {

using Registration = void (*)(CLI::App&, Action&);
struct Subcommand {
    std::string_view name;
    Registration add;
};
// One registration per cmd/<name>.cpp (declared in app.hpp), in the order --help lists them.
constexpr Subcommand k_subcommands[] = {{"serve", add_serve}, {"connect", add_connect},
                                        {"get", add_get},     {"retrieve", add_retrieve},
                                        {"clean", add_clean}, {"ports", add_ports}};

// The subcommand a command line runs, when building only that one is enough: it is named first
// and no help is asked for. nettool runs in shell loops, and building every subcommand's
// options costs more than the rest of starting (ARCHITECTURE.md, "Start-up").
std::optional<std::string_view> sole_subcommand(int argc, const char* const* argv) {
    if (argc < 2) return std::nullopt;
    const std::string_view first = argv[1];
    const auto* found = std::find_if(std::begin(k_subcommands), std::end(k_subcommands),
                                     [&](const Subcommand& sub) { return sub.name == first; });
    if (found == std::end(k_subcommands)) return std::nullopt;
    for (int i = 2; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") break;
        if (arg == "-h" || arg == "--help" || arg == "--help-all") return std::nullopt;
    }
    return first;
}

// The command line with every subcommand (`only` empty) or just `only`. With `only`, a command
// line that is not right gives nothing instead of a message: the caller then runs it again
// with every subcommand, whose usage hints look across them all.
std::optional<int> run_app(int argc, char** argv, std::optional<std::string_view> only) {
    CLI::App app{"A network multi-tool: serve, connect, get, retrieve, clean, ports.", "nettool"};
    // Set before the subcommands are added: each takes its parent's formatter.
    app.formatter(std::make_shared<HelpFormatter>());
    app.require_subcommand(1);
    app.set_help_flag("-h,--help", "Print this help and exit");
    app.set_help_all_flag("--help-all", "Print the help of every subcommand and exit");
    app.set_version_flag("--version", version_text, "Print nettool's version and its libraries'");
    app.add_flag_callback(
        "--list-options",
        [&app] {
            std::fputs(list_options_json(app).c_str(), stdout);
            throw CLI::Success();
        },
        "Print every subcommand and option as JSON (the shell completions are made from it)");
    set_help_footer(app,
                    {{"Greet clients on localhost:1024", "nettool serve --greet -k"},
                     {"Be one, from another terminal", "nettool connect localhost 1024"},
                     {"The options of a subcommand", "nettool help get"}},
                    {"Exit status: 0 success, 1 failure, 2 usage, 3 file, 4 network, 5 TLS, "
                     "6 auth, 7 protocol, 8 server error, 9 checksum, 130 interrupted. See "
                     "nettool(1)."});

    Action action;
    for (const auto& sub : k_subcommands) {
        if (!only || sub.name == *only) sub.add(app, action);
    }
    // An empty value is a usage error everywhere, except where it has a meaning of its own
    // (nettool(1), "EMPTY VALUES"): --send '' sends nothing, -d '' and --data-binary '' send an
    // empty body, --proxy '' uses no proxy at all (curl's habit), --noproxy '' exempts no host.
    // URLs, endpoints and -A are refused by their own checks, with their own sentences.
    for (CLI::App* sub : app.get_subcommands({})) {
        forbid_empty_values(*sub, {"--send", "--data", "--data-binary", "--proxy", "--noproxy",
                                   "--user-agent", "URL", "endpoint", "target"});
    }

    if (argc > 1 && std::string_view(argv[1]) == "help") return print_help(app, argc, argv);
    const ScannedArguments scanned = scan_arguments(app, argc, argv);
    if (scanned.problem && !scanned.help) {
        if (only) return std::nullopt;
        report_errors_as_json(json_stream(scanned));
        return report(Error{ErrorKind::usage, *scanned.problem});
    }
    if (auto empty = empty_attached_value(argc, argv)) {
        if (only) return std::nullopt;
        report_errors_as_json(json_stream(scanned));
        return report(
            Error{ErrorKind::usage, fmt::format("{}; see '{}'", *empty, help_hint(scanned))});
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (only) return std::nullopt;
        return handle_parse_error(app, e, scanned);
    }
    if (!action) return exit_code(ErrorKind::usage); // unreachable: a subcommand is required
    report_errors_as_json(json_stream(scanned));
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

} // namespace

int run(int argc, char** argv) {
    if (const auto only = sole_subcommand(argc, argv)) {
        if (const auto code = run_app(argc, argv, only)) return *code;
    }
    return *run_app(argc, argv, std::nullopt);
}

} // namespace nettool::cli
