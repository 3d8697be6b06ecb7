#pragma once
// Human messages on stderr, one prefix everywhere: "nettool: error: ...", "warning:", "note:".
// Each message passes escape_for_terminal() here, so text from a server, a peer or the file
// system inside it never drives the terminal.
#include "escape.hpp"

#include <cstdio>
#include <nettool/error.hpp>
#include <string>
#include <string_view>

namespace nettool::cli {

void print_error(std::string_view message);
void print_warning(std::string_view message);
void print_note(std::string_view message);

// Under --json a failure is one object, {"event":"error","exit":N,"message":"..."}, on the
// stream the subcommand's JSON goes to. Called once the subcommand and its --json are known;
// when that stream is not stderr, the human line still goes to stderr as well.
void report_errors_as_json(std::FILE* stream);

// Reports the error (a line on stderr, or the JSON object) and returns its exit code; 130 when
// a SIGINT stopped the work.
int report(const Error& error);

// The exit code for a finished core call: 0, the error's code, or 130 after SIGINT (reported
// like an error under --json, so every failing exit carries its object).
int exit_status(const Status& status);

} // namespace nettool::cli
