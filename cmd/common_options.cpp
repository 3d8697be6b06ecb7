#include "common_options.hpp"

#include "help.hpp"

#include <fmt/format.h>
#include <nettool/units.hpp>
#include <set>

namespace nettool::cli {

CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::optional<std::chrono::milliseconds>& target,
                                 const std::string& description) {
    return app
        .add_option_function<std::string>(
            name,
            [&target](const std::string& text) {
                auto parsed = parse_duration(text);
                if (!parsed) throw CLI::ValidationError(parsed.error().message);
                if (parsed->count() == 0)
                    target.reset();
                else
                    target = *parsed;
            },
            description)
        ->type_name("DURATION");
}

CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::chrono::milliseconds& target,
                                 const std::string& description) {
    return app
        .add_option_function<std::string>(
            name,
            [&target](const std::string& text) {
                auto parsed = parse_duration(text);
                if (!parsed) throw CLI::ValidationError(parsed.error().message);
                target = *parsed;
            },
            description)
        ->type_name("DURATION");
}

CLI::Option* add_size_option(CLI::App& app, const std::string& name,
                             std::optional<std::uint64_t>& target, const std::string& description) {
    return app
        .add_option_function<std::string>(
            name,
            [&target](const std::string& text) {
                auto parsed = parse_size(text);
                if (!parsed) throw CLI::ValidationError(parsed.error().message);
                target = *parsed;
            },
            description)
        ->type_name("SIZE");
}

void add_output_options(CLI::App& app, OutputOptions& output, bool with_json) {
    if (with_json) {
        app.add_flag("--json", output.json,
                     "Machine-readable output: JSON Lines, one object per line")
            ->group(k_output_section);
    }
    auto* quiet = app.add_flag("-q,--quiet", output.quiet, "Print nothing but errors");
    quiet->group(k_output_section);
    app.add_flag("-v,--verbose", output.verbose, "Print more detail")
        ->excludes(quiet)
        ->group(k_output_section);
}

std::vector<CLI::Option*> options_with_groups(CLI::App& app) {
    std::vector<CLI::Option*> options = app.get_options();
    for (CLI::App* group :
         app.get_subcommands([](CLI::App* sub) { return sub->get_name().empty(); })) {
        auto inner = options_with_groups(*group); // option groups, not subcommands
        options.insert(options.end(), inner.begin(), inner.end());
    }
    return options;
}

void forbid_empty_values(CLI::App& app, std::initializer_list<std::string_view> except) {
    const std::set<std::string_view> allowed(except);
    for (CLI::Option* option : options_with_groups(app)) {
        if (option->get_type_size_max() == 0) continue; // a flag
        const std::string name = option->get_name();
        if (allowed.count(name) > 0) continue;
        // A transform runs before the option's other checks: '' gets this sentence, not
        // "'' is not in {bar,line,json}". The value's name as --help shows it ("N", "FILE",
        // "bar|line|json") is looked up only then: describing every option of every
        // subcommand at each start would cost more than the rest of starting.
        option->transform(CLI::Validator(
            [option](std::string& value) -> std::string {
                if (!value.empty()) return {};
                std::string what = document_option(*option).value;
                if (what.empty() || what == "TEXT")
                    what = option->get_positional() ? option->get_name() : "a value";
                return fmt::format("the value is empty; give {}", what);
            },
            ""));
    }
}

std::optional<std::string> empty_attached_value(int argc, const char* const* argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") break;
        if (arg.size() > 3 && arg.starts_with("--") && arg.find('=') == arg.size() - 1) {
            const std::string_view name = arg.substr(0, arg.size() - 1);
            return fmt::format("{} has an empty value; write {}=VALUE, or leave {} out", arg, name,
                               name);
        }
    }
    return std::nullopt;
}

} // namespace nettool::cli
