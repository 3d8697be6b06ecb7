#include "option_listing.hpp"

#include "help.hpp"
#include "json_lines.hpp"

namespace nettool::cli {
namespace {

Json listed_option_json(const OptionDoc& doc) {
    const bool attached = doc.value.starts_with("[=");
    std::string value = doc.value;
    if (attached) value = value.substr(2, value.size() - 3);
    return {{"short", doc.short_names},
            {"long", doc.long_names},
            {"value", doc.value.empty() ? Json(nullptr) : Json(value)},
            {"attached", attached},
            {"choices", doc.choices},
            {"complete", completion_kind(value, !doc.choices.empty())},
            {"repeatable", doc.repeatable},
            {"section", doc.section},
            {"description", doc.description}};
}

Json listed_operand_json(const OptionDoc& doc) {
    return {{"name", doc.value},
            {"required", doc.required},
            {"repeatable", doc.repeatable},
            {"complete", completion_kind(doc.value, !doc.choices.empty())},
            {"description", doc.description}};
}

Json listed_app_json(const CLI::App& app) {
    Json options = Json::array();
    Json operands = Json::array();
    for (const auto& doc : document_options(app)) {
        if (doc.positional)
            operands.push_back(listed_operand_json(doc));
        else
            options.push_back(listed_option_json(doc));
    }
    return {{"name", app.get_name()},
            {"description", app.get_description()},
            {"options", options},
            {"operands", operands}};
}

} // namespace

std::string completion_kind(const std::string& value, bool has_choices) {
    if (has_choices) return "choices";
    // One of the '|' alternatives names the kind: DATA|FILE may be a file.
    std::size_t start = 0;
    while (start <= value.size()) {
        const auto end = std::min(value.find('|', start), value.size());
        const std::string word = value.substr(start, end - start);
        if (word == "FILE" || word == "PATH") return "file";
        if (word == "DIR") return "dir";
        start = end + 1;
    }
    return "none";
}

std::string list_options_json(const CLI::App& app) {
    Json top = listed_app_json(app);
    Json subcommands = Json::array();
    for (const CLI::App* sub :
         app.get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); })) {
        subcommands.push_back(listed_app_json(*sub));
    }
    return Json{{"options", top["options"]}, {"subcommands", subcommands}}.dump(
               2, ' ', true, Json::error_handler_t::replace) +
           "\n";
}

} // namespace nettool::cli
