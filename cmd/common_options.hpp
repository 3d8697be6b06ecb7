#pragma once
// Option helpers shared by every subcommand: durations and sizes parsed at parse time (a bad
// value is a usage error, exit 2, with core's sentence), and the output flags.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace nettool::cli {

// Adds an option taking a DURATION (5, 5s, 250ms, 2m, 1h) stored into `target`.
CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::optional<std::chrono::milliseconds>& target,
                                 const std::string& description);
CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::chrono::milliseconds& target, const std::string& description);

// Adds an option taking a SIZE (1024, 64K, 10M, 1G) stored into `target`.
CLI::Option* add_size_option(CLI::App& app, const std::string& name,
                             std::optional<std::uint64_t>& target, const std::string& description);

struct OutputOptions {
    bool json = false;
    bool quiet = false;
    bool verbose = false;
};

// --json (only where `with_json`), -q/--quiet, -v/--verbose.
void add_output_options(CLI::App& app, OutputOptions& output, bool with_json);

} // namespace nettool::cli
