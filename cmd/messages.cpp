#include "messages.hpp"

#include "json_lines.hpp"

#include <csignal>
#include <fmt/format.h>
#include <nettool/stop.hpp>

namespace nettool::cli {
namespace {

std::FILE* g_json_errors = nullptr; // set by report_errors_as_json()

void print_prefixed(std::string_view prefix, std::string_view message) {
    // One write so that lines from concurrent processes do not interleave.
    const std::string line = fmt::format("nettool: {}: {}\n", prefix, escape_for_terminal(message));
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

int report_failure(int code, std::string_view message) {
    if (g_json_errors != nullptr) {
        write_json_line(g_json_errors, {{"event", "error"}, {"exit", code}, {"message", message}});
        if (g_json_errors == stderr) return code;
    }
    print_error(message);
    return code;
}

} // namespace

void print_error(std::string_view message) {
    print_prefixed("error", message);
}
void print_warning(std::string_view message) {
    print_prefixed("warning", message);
}
void print_note(std::string_view message) {
    print_prefixed("note", message);
}

void report_errors_as_json(std::FILE* stream) {
    g_json_errors = stream;
}

int report(const Error& error) {
    if (error.kind == ErrorKind::interrupted || stop_signal() == SIGINT) {
        const int code = exit_code(ErrorKind::interrupted);
        // The cause, when a failure (not the interruption itself) is what ended the work.
        if (!error.message.empty() && error.kind != ErrorKind::interrupted)
            return report_failure(code, error.message);
        if (g_json_errors != nullptr) {
            write_json_line(
                g_json_errors,
                {{"event", "error"}, {"exit", code}, {"message", "interrupted (SIGINT)"}});
        }
        return code;
    }
    return report_failure(exit_code(error.kind), error.message);
}

int exit_status(const Status& status) {
    if (!status) return report(status.error());
    if (stop_signal() == SIGINT) return report(Error{ErrorKind::interrupted, {}});
    return 0;
}

} // namespace nettool::cli
