#include "help.hpp"

#include "common_options.hpp"

#include <algorithm>
#include <sys/ioctl.h>
#include <unistd.h>

namespace nettool::cli {
namespace {

constexpr std::size_t k_help_default_width = 80;
constexpr std::size_t k_help_min_width = 40;

// CLI11 2.1 gives no const access to an option's validators and no count of them: walk them
// by index until it says there is no more.
std::vector<std::string> validator_descriptions(const CLI::Option& option) {
    auto& mutable_option = const_cast<CLI::Option&>(option); // only read
    std::vector<std::string> descriptions;
    for (int i = 0;; ++i) {
        try {
            descriptions.push_back(mutable_option.get_validator(i)->get_description());
        } catch (const CLI::OptionNotFound&) {
            break;
        }
    }
    return descriptions;
}

// A CLI::IsMember set describes itself as "{a,b,c}"; a mapping ("{a->1}") is not a set of words.
std::vector<std::string> set_members(const std::string& description) {
    if (description.size() < 2 || description.front() != '{' || description.back() != '}' ||
        description.find("->") != std::string::npos) {
        return {};
    }
    std::vector<std::string> members;
    std::string current;
    for (const char c : description.substr(1, description.size() - 2)) {
        if (c == ',') {
            members.push_back(current);
            current.clear();
        } else {
            current += c;
        }
    }
    members.push_back(current);
    return members;
}

OptionDoc describe_option(const CLI::Option& option, const std::string& section) {
    OptionDoc doc;
    doc.positional = option.get_positional() && !option.nonpositional();
    doc.description = option.get_description();
    doc.section = section;
    doc.repeatable = option.get_expected_max() >= CLI::detail::expected_max_vector_size ||
                     option.get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
    // get_type_name() is the type name followed by ":DESCRIPTION" of every validator ("N:INT
    // in [1 - 65535]"): take the descriptions off the end to get the name the option was
    // given, and keep the members of a fixed set.
    std::string type = option.get_type_name();
    const auto descriptions = validator_descriptions(option);
    for (auto it = descriptions.rbegin(); it != descriptions.rend(); ++it) {
        if (it->empty()) continue;
        const std::string suffix = ":" + *it;
        if (type.size() >= suffix.size() && type.ends_with(suffix))
            type.resize(type.size() - suffix.size());
        if (auto members = set_members(*it); !members.empty()) doc.choices = std::move(members);
    }
    if (type == "INT" || type == "UINT") type = "N";
    if (doc.positional) {
        doc.required = option.get_required();
        if (!option.get_option_text().empty())
            doc.value = option.get_option_text();
        else if (!type.empty() && type != "TEXT")
            doc.value = type;
        else
            doc.value = option.get_name();
        return doc;
    }
    for (const auto& name : option.get_snames())
        doc.short_names.push_back("-" + name);
    for (const auto& name : option.get_lnames())
        doc.long_names.push_back("--" + name);
    const bool takes_value = option.get_type_size_max() > 0 && option.get_items_expected_max() > 0;
    if (!doc.choices.empty() && takes_value) {
        for (const auto& member : doc.choices)
            doc.value += (doc.value.empty() ? "" : "|") + member;
    } else if (takes_value || type.starts_with("[=")) {
        doc.value = type.empty() ? "VALUE" : type;
    }
    return doc;
}

void document_app_options(const CLI::App& app, const std::string& group_title,
                          std::vector<OptionDoc>& docs) {
    for (const CLI::Option* option : app.get_options()) {
        OptionDoc doc =
            describe_option(*option, group_title.empty() ? option->get_group() : group_title);
        doc.help_flag = option == app.get_help_ptr() || option == app.get_help_all_ptr();
        docs.push_back(std::move(doc));
    }
    // Option groups (nameless subcommands): their options under the group's title.
    for (const CLI::App* group : app.get_subcommands({})) {
        if (group->get_name().empty()) document_app_options(*group, group->get_group(), docs);
    }
}

bool is_utf8_continuation(char c) {
    return (static_cast<unsigned char>(c) & 0xc0) == 0x80;
}

// The first `columns` columns of `word` (whole code points).
std::size_t bytes_of_columns(std::string_view word, std::size_t columns) {
    std::size_t bytes = 0;
    std::size_t seen = 0;
    while (bytes < word.size()) {
        if (!is_utf8_continuation(word[bytes])) {
            if (seen == columns) break;
            ++seen;
        }
        ++bytes;
    }
    return bytes;
}

// The left column of an option's row: "-i, --include", "--greet[=TEXT]", "--proxy URL".
std::string help_row_label(const OptionDoc& doc) {
    if (doc.positional) return doc.value;
    std::string label;
    for (const auto& names : {doc.short_names, doc.long_names}) {
        for (const auto& name : names)
            label += (label.empty() ? "" : ", ") + name;
    }
    if (!doc.value.empty()) label += (doc.value.starts_with("[=") ? "" : " ") + doc.value;
    return label;
}

struct HelpRow {
    std::string label;
    std::string description;
};

struct HelpSection {
    std::string title;
    std::vector<HelpRow> rows;
};

class HelpWriter {
  public:
    explicit HelpWriter(std::size_t width) : m_width(std::max(width, k_help_min_width)) {}

    void line(std::string_view text = {}) {
        m_out.append(text);
        m_out += '\n';
    }
    void paragraph(std::string_view text, std::size_t indent = 0) {
        line(std::string(indent, ' ') + wrap_paragraph(text, m_width, indent, indent));
    }

    // The sections with one description column for all of them.
    void sections(const std::vector<HelpSection>& sections) {
        std::size_t widest = 0;
        for (const auto& section : sections) {
            for (const auto& row : section.rows)
                widest = std::max(widest, display_width(row.label));
        }
        // Labels share a column up to two fifths of the width; a longer label gets a line of
        // its own with its description below.
        const std::size_t column = std::min(2 + widest + 2, m_width * 2 / 5);
        for (const auto& section : sections) {
            if (section.rows.empty()) continue;
            line();
            line(section.title + ":");
            for (const auto& row : section.rows) {
                const std::size_t used = 2 + display_width(row.label);
                std::string text = "  " + row.label;
                if (row.description.empty()) {
                    line(text);
                    continue;
                }
                if (used + 2 <= column) {
                    text += std::string(column - used, ' ');
                } else {
                    line(text);
                    text = std::string(column, ' ');
                }
                line(text + wrap_paragraph(row.description, m_width, column, column));
            }
        }
    }

    // A footer: blank lines kept, lines indented by four or more spaces (commands) kept as
    // they are, every other line wrapped with its own indentation.
    void footer(std::string_view footer) {
        if (footer.empty()) return;
        line();
        std::size_t start = 0;
        while (start <= footer.size()) {
            auto end = footer.find('\n', start);
            if (end == std::string_view::npos) end = footer.size();
            const std::string_view text = footer.substr(start, end - start);
            const std::size_t indent = std::min(text.find_first_not_of(' '), text.size());
            if (indent >= 4 || text.empty())
                line(text);
            else
                paragraph(text.substr(indent), indent);
            start = end + 1;
        }
    }

    std::string take() { return std::move(m_out); }
    std::size_t width() const { return m_width; }

  private:
    std::size_t m_width;
    std::string m_out;
};

std::string help_usage_line(const std::string& name, const std::vector<OptionDoc>& docs) {
    std::string usage = name + " [OPTIONS]";
    for (const auto& doc : docs) {
        if (!doc.positional) continue;
        std::string operand = doc.value;
        if (doc.repeatable && operand.find(' ') == std::string::npos) operand += "...";
        // An operand with a text of its own ("ENDPOINT | HOST PORT") is written as given.
        const bool as_given = doc.value.find(' ') != std::string::npos;
        usage += " " + (doc.required || as_given ? operand : "[" + operand + "]");
    }
    return usage;
}

void write_app_help(HelpWriter& out, const CLI::App& app, const std::string& name) {
    const auto docs = document_options(app);
    const bool top = app.get_parent() == nullptr;
    std::vector<const CLI::App*> subcommands =
        app.get_subcommands([](const CLI::App* sub) { return !sub->get_name().empty(); });

    if (!subcommands.empty()) {
        out.line(wrap_paragraph("Usage: " + name + " SUBCOMMAND [OPTIONS] [ARGUMENTS]", out.width(),
                                0, 7));
        // `nettool help SUBCOMMAND` is answered by app.cpp before parsing.
        if (top)
            out.line("       " + wrap_paragraph(name + " help [SUBCOMMAND]", out.width(), 7, 7));
    } else {
        const std::string usage = "Usage: " + help_usage_line(name, docs);
        out.line(wrap_paragraph(usage, out.width(), 0, 7));
    }
    if (!app.get_description().empty()) out.paragraph(app.get_description());

    std::vector<HelpSection> sections;
    const auto help_section_named = [&sections](const std::string& title) -> HelpSection& {
        for (auto& section : sections) {
            if (section.title == title) return section;
        }
        sections.push_back({title, {}});
        return sections.back();
    };
    if (!subcommands.empty()) {
        HelpSection& listed = help_section_named("Subcommands");
        for (const CLI::App* sub : subcommands)
            listed.rows.push_back({sub->get_name(), sub->get_description()});
    }
    for (const auto& doc : docs) {
        if (doc.positional)
            help_section_named("Arguments").rows.push_back({doc.value, doc.description});
    }
    std::vector<HelpRow> help_rows;
    for (const auto& doc : docs) {
        if (doc.positional) continue;
        if (doc.help_flag) {
            // --help-all belongs to the top level's help; a subcommand shows -h, --help.
            if (top || doc.short_names.size() > 0)
                help_rows.push_back({help_row_label(doc), doc.description});
            continue;
        }
        help_section_named(doc.section).rows.push_back({help_row_label(doc), doc.description});
    }
    // -h, --help joins the output options (or the last section) rather than opening a section
    // of its own; at the top level it leads the options.
    auto output = std::find_if(sections.begin(), sections.end(),
                               [](const HelpSection& s) { return s.title == k_output_section; });
    if (output == sections.end()) {
        if (sections.empty() || sections.back().title == "Arguments" ||
            sections.back().title == "Subcommands") {
            sections.push_back({"Options", {}});
        }
        output = sections.end() - 1;
    }
    auto& rows = output->rows;
    rows.insert(top ? rows.begin() : rows.end(), help_rows.begin(), help_rows.end());
    out.sections(sections);
    out.footer(app.get_footer());
}

} // namespace

OptionDoc document_option(const CLI::Option& option) {
    return describe_option(option, option.get_group());
}

std::vector<OptionDoc> document_options(const CLI::App& app) {
    std::vector<OptionDoc> docs;
    document_app_options(app, "", docs);
    return docs;
}

std::size_t help_width() {
    winsize size{};
    if (::isatty(STDOUT_FILENO) == 1 && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 &&
        size.ws_col > 0) {
        return size.ws_col;
    }
    return k_help_default_width;
}

std::size_t display_width(std::string_view text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return !is_utf8_continuation(c); }));
}

std::string wrap_paragraph(std::string_view text, std::size_t width, std::size_t first_indent,
                           std::size_t indent) {
    std::string out;
    std::size_t column = first_indent;
    bool line_empty = true;
    const auto new_line = [&] {
        out += '\n' + std::string(indent, ' ');
        column = indent;
        line_empty = true;
    };
    std::size_t start = 0;
    while (start < text.size()) {
        if (text[start] == ' ') {
            ++start;
            continue;
        }
        const auto end = std::min(text.find(' ', start), text.size());
        std::string_view word = text.substr(start, end - start);
        start = end;
        while (!word.empty()) {
            const std::size_t need = display_width(word) + (line_empty ? 0 : 1);
            if (column + need <= width) {
                if (!line_empty) out += ' ';
                out.append(word);
                column += need;
                line_empty = false;
                break;
            }
            // Not here: on the next line if it fits there, else cut where it stands.
            if (!line_empty || (column > indent && display_width(word) + indent <= width)) {
                new_line();
                continue;
            }
            const std::size_t cut = bytes_of_columns(word, width > column ? width - column : 1);
            out.append(word.substr(0, cut));
            word.remove_prefix(cut);
            new_line();
        }
    }
    return out;
}

std::string HelpFormatter::make_help(const CLI::App* app, std::string name,
                                     CLI::AppFormatMode mode) const {
    HelpWriter out(m_width != 0 ? m_width : help_width());
    write_app_help(out, *app, name);
    if (mode == CLI::AppFormatMode::All) {
        for (const CLI::App* sub :
             app->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); })) {
            out.line();
            out.line(std::string(std::min<std::size_t>(out.width(), 80), '-'));
            write_app_help(out, *sub, name + " " + sub->get_name());
        }
    }
    return out.take();
}

void set_help_footer(CLI::App& app, std::initializer_list<HelpExample> examples,
                     std::initializer_list<std::string_view> notes) {
    std::string footer;
    if (examples.size() > 0) {
        footer += "Examples:";
        for (const auto& example : examples)
            footer += "\n  " + example.what + ":\n      " + example.command;
    }
    for (const auto note : notes) {
        if (!footer.empty()) footer += "\n\n";
        footer.append(note);
    }
    app.footer(footer);
}

} // namespace nettool::cli
