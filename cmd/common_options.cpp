#include "common_options.hpp"

#include <nettool/units.hpp>

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
                target = *parsed;
            },
            description)
        ->type_name("DURATION");
}

CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::chrono::milliseconds& target, const std::string& description) {
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
        app.add_flag("--json", output.json, "Machine-readable output: JSON Lines, one object per line");
    }
    auto* quiet = app.add_flag("-q,--quiet", output.quiet, "Print nothing but errors");
    app.add_flag("-v,--verbose", output.verbose, "Print more detail")->excludes(quiet);
}

} // namespace nettool::cli
