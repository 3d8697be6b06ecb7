#pragma once
// Option helpers shared by every subcommand: durations and sizes parsed at parse time (a bad
// value is a usage error, exit 2, with core's sentence), the output flags, and the rule that an
// empty value is a usage error.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <nettool/error.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace nettool::cli {

// What a parse callback throws when core refuses a value: a usage error (exit 2) as CLI11's
// ValidationError; any other kind keeps its own exit code (app.cpp reports it as it is): the
// URL parser and the proxy check live in the HTTP module, which may fail to load (exit 1).
class ParseFailure : public CLI::ValidationError {
  public:
    explicit ParseFailure(nettool::Error error)
        : CLI::ValidationError(error.message), m_error(std::move(error)) {}
    const nettool::Error& error() const { return m_error; }

  private:
    nettool::Error m_error;
};
[[noreturn]] inline void throw_parse_failure(nettool::Error error) {
    if (error.kind == ErrorKind::usage) throw CLI::ValidationError(error.message);
    throw ParseFailure(std::move(error));
}

// Adds an option taking a DURATION (5, 5s, 250ms, 2m, 1h) stored into `target`. A duration of
// 0 turns the option off, for every option alike (curl's and wget's habit): no timeout, no
// waiting, no age limit; here `target` is then left empty (std::nullopt).
CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::optional<std::chrono::milliseconds>& target,
                                 const std::string& description);
// The same for an option that always has a value (serve's --grace): 0 is stored as 0, which is
// "off" for a grace period (open connections are ended at once).
CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::chrono::milliseconds& target, const std::string& description);

// What "off" becomes where core needs a duration: longer than any run, so the system's own
// limit (for connecting, the kernel's SYN retries: about two minutes) is the one that applies.
inline constexpr std::chrono::milliseconds k_no_limit = std::chrono::hours(24 * 365);

// Adds an option taking a SIZE (1024, 64K, 10M, 1G) stored into `target`.
CLI::Option* add_size_option(CLI::App& app, const std::string& name,
                             std::optional<std::uint64_t>& target, const std::string& description);

struct OutputOptions {
    bool json = false;
    bool quiet = false;
    bool verbose = false;
};

// The help section (and man page section) of the output options.
inline constexpr const char* k_output_section = "Output";

// --json (only where `with_json`), -q/--quiet, -v/--verbose, in the Output section.
void add_output_options(CLI::App& app, OutputOptions& output, bool with_json);

// Every option of `app`, those of its option groups included (not those of subcommands).
std::vector<CLI::Option*> options_with_groups(CLI::App& app);

// Makes an empty value a usage error for every option and operand of `app` (its option groups
// included) that takes a value, except those named in `except` (by CLI11's name: "--send",
// "URL"), where '' means something or the option's own check words it better. Without it, ''
// would silently fall back to a default or another mode.
void forbid_empty_values(CLI::App& app, std::initializer_list<std::string_view> except);

// `--name=` with nothing after '=' gives no value, and CLI11 would then take the next argument
// as the value (`--sh-exec= 9000` would run "9000"): returns the usage error's sentence for the
// first such argument before a bare `--`, or nothing.
std::optional<std::string> empty_attached_value(int argc, const char* const* argv);

} // namespace nettool::cli
