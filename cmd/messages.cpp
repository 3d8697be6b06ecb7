#include "messages.hpp"

#include <csignal>
#include <cstdio>
#include <fmt/format.h>

#include <nettool/stop.hpp>

namespace nettool::cli {
namespace {
void print_prefixed(std::string_view prefix, std::string_view message) {
    // One write so that lines from concurrent processes do not interleave.
    const std::string line = fmt::format("nettool: {}: {}\n", prefix, message);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}
} // namespace

void print_error(std::string_view message) { print_prefixed("error", message); }
void print_warning(std::string_view message) { print_prefixed("warning", message); }
void print_note(std::string_view message) { print_prefixed("note", message); }

std::string escape_for_terminal(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
        else out += c;
    }
    return out;
}

int report(const Error& error) {
    if (error.kind == ErrorKind::interrupted || stop_signal() == SIGINT) {
        if (!error.message.empty() && error.kind != ErrorKind::interrupted) print_error(error.message);
        return exit_code(ErrorKind::interrupted);
    }
    print_error(error.message);
    return exit_code(error.kind);
}

int exit_status(const Status& status) {
    if (!status) return report(status.error());
    return stop_signal() == SIGINT ? exit_code(ErrorKind::interrupted) : 0;
}

} // namespace nettool::cli
