#pragma once
// `nettool --list-options`: every subcommand with its options and operands as one JSON
// document, from the same description --help is printed from (help.hpp).
// scripts/gen-completions.py writes the bash, zsh and fish completions from it, so a new
// subcommand or option, and the fixed set of values of an option (CLI::IsMember), reach the
// completions without editing the generator.
#include <CLI/CLI.hpp>
#include <string>

namespace nettool::cli {

// What a shell completes for a value whose name is `value` ("FILE", "DIR", "DATA|FILE",
// "bar|line|json"): "file", "dir", "choices" (with `has_choices`) or "none".
std::string completion_kind(const std::string& value, bool has_choices);

// The document (ASCII, ends with a newline):
// {"options": [OPTION...], "subcommands": [{"name", "description", "options": [OPTION...],
//  "operands": [{"name", "required", "repeatable", "complete", "description"}]}]}
// with OPTION = {"short": ["-i"], "long": ["--include"], "value": "FILE" or null,
//  "attached": true when the value attaches with '=' only, "choices": [...], "complete",
//  "repeatable", "section", "description"}.
std::string list_options_json(const CLI::App& app);

} // namespace nettool::cli
