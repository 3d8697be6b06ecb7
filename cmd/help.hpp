#pragma once
// --help as a man's tool prints it: wrapped to the terminal (80 columns when standard output is
// not one), options in the sections of the subcommand's man page (the CLI11 group of each
// option is its section title), value names without CLI11's type and range annotations, the
// choices of a fixed set written a|b|c, and the footer's examples at the bottom. The same
// description of the options feeds `nettool --list-options`, from which
// scripts/gen-completions.py writes the shell completions.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace nettool::cli {

// One option or operand as help and the completions show it.
struct OptionDoc {
    std::vector<std::string> short_names; // "-i"
    std::vector<std::string> long_names;  // "--include"
    // What the option takes: "FILE", "'NAME: VALUE'", "bar|line|json"; "[=TEXT]" for a flag whose
    // value attaches with '=' only; empty for a flag. For an operand: its display name ("URL").
    std::string value;
    std::vector<std::string> choices; // a fixed set (CLI::IsMember), in the order declared
    std::string section;              // the man page's section: "Output", "Request"
    std::string description;
    bool positional = false;
    bool required = false; // operands only
    bool repeatable = false;
    bool help_flag = false; // --help, --help-all
};

// One option or operand, in the section of its CLI11 group.
OptionDoc document_option(const CLI::Option& option);

// Every option and operand of `app` (its option groups included) in the order declared.
std::vector<OptionDoc> document_options(const CLI::App& app);

// The width help is wrapped to: the terminal's when standard output is one, else 80.
std::size_t help_width();

// Word-wraps `text` (one paragraph, no newlines) to `width` columns: the first line starts
// after `first_indent` columns already used, later lines are indented by `indent` spaces. A
// word longer than a line is cut. Returns the lines joined by '\n', without a final newline.
std::string wrap_paragraph(std::string_view text, std::size_t width, std::size_t first_indent,
                           std::size_t indent);

// Columns a UTF-8 string takes (one per code point; nettool's help has no wide characters).
std::size_t display_width(std::string_view text);

class HelpFormatter : public CLI::FormatterBase {
  public:
    // width 0: help_width() at the time the help is printed.
    explicit HelpFormatter(std::size_t width = 0) : m_width(width) {}
    std::string make_help(const CLI::App* app, std::string name,
                          CLI::AppFormatMode mode) const override;

  private:
    std::size_t m_width;
};

struct HelpExample {
    std::string what;    // "Stream a page into a pager"
    std::string command; // "nettool get https://example.org/ | less" (printed verbatim)
};

// Sets the subcommand's footer: its examples, then `notes` (paragraphs, wrapped).
void set_help_footer(CLI::App& app, std::initializer_list<HelpExample> examples,
                     std::initializer_list<std::string_view> notes);

} // namespace nettool::cli
