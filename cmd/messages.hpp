#pragma once
// Human messages on stderr, one prefix everywhere: "nettool: error: ...", "warning:", "note:".
#include <string>
#include <string_view>

#include <nettool/error.hpp>

namespace nettool::cli {

void print_error(std::string_view message);
void print_warning(std::string_view message);
void print_note(std::string_view message);

// Makes a string from a server or a peer safe to print on a terminal: control characters
// and invalid bytes become \xNN escapes, so a hostile name cannot move the cursor or retitle.
std::string escape_for_terminal(std::string_view text);

// Prints the error and returns its exit code; 130 when a SIGINT stopped the work.
int report(const Error& error);

// The exit code for a finished core call: 0, the error's code, or 130 after SIGINT.
int exit_status(const Status& status);

} // namespace nettool::cli
