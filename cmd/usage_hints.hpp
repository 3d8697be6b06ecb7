#pragma once
// Usage errors that name the right word. CLI11 reports an unknown option only after the
// arguments after it were taken as operands and checked (`get -w '%{http_code}' URL` blamed
// the URL), so nettool reads the command line once before CLI11 does, as CLI11 will read it,
// and stops at the first unknown option or subcommand with a sentence that names it: "did you
// mean" for a close spelling, or a one-line hint for a habit from curl, wget, nc or ncat.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool::cli {

struct ScannedArguments {
    CLI::App* subcommand = nullptr; // the subcommand named, if any
    // The arguments after the subcommand that are neither options nor their values.
    std::vector<std::string> operands;
    // The options given to the subcommand, by their first long name (or short name).
    std::vector<std::string> options;
    // A flag immediately followed by an operand: ("-q", "1") for `connect -q 1 host 80`.
    std::vector<std::pair<std::string, std::string>> flag_then_operand;
    bool json = false; // --json was given to the subcommand
    bool help = false; // -h, --help or --help-all: the help is printed, whatever else is wrong
    // The sentence for the first unknown option or subcommand.
    std::optional<std::string> problem;
};

// Reads argv the way CLI11 will: `--` ends the options, an option that takes a value takes
// the next argument whatever it looks like, `-abc` is a cluster of flags (the first that takes
// a value takes the rest), `-5` is an operand unless -5 is an option.
ScannedArguments scan_arguments(CLI::App& app, int argc, const char* const* argv);

// After CLI11 refused the command line: the sentence for a peer's habit that CLI11 read as
// something else (nc's `-q SECS` read as --quiet and an operand, wget's `-O FILE` given to
// retrieve, whose -O is --remote-name), or nothing.
std::optional<std::string> misread_habit(const ScannedArguments& scanned);

// The optimal string alignment distance: insertions, deletions, substitutions and swaps of
// two neighbours each cost 1.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The names closest to `typed` (at most three, closest first) among `names`, when close
// enough to be a misspelling or an unambiguous start; empty otherwise.
std::vector<std::string> close_names(std::string_view typed, const std::vector<std::string>& names);

} // namespace nettool::cli
