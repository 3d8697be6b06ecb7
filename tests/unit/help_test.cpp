// --help's formatter (cmd/help.hpp) and the listing the completions are made from
// (cmd/option_listing.hpp).
#include "help.hpp"
#include "option_listing.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace nettool::cli;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// A small subcommand like nettool's: sections, a fixed set, a range, an exclusion, a flag
// whose value attaches with '=' only, and an operand.
struct Fixture {
    CLI::App app{"A tool.", "tool"};
    CLI::App* sub = nullptr;
    std::string scheme, file, greet;
    int count = 0;
    bool quiet = false, verbose = false;

    Fixture() {
        app.formatter(std::make_shared<HelpFormatter>(60));
        sub = app.add_subcommand("fetch", "Fetch a thing.");
        sub->add_option("FILE", file, "Where it goes")->type_name("TEXT");
        sub->add_option("--auth", scheme, "The scheme")
            ->type_name("SCHEME")
            ->check(CLI::IsMember({"basic", "digest"}))
            ->group("Request");
        sub->add_option("--count", count, "How many times to try, a long description that wraps")
            ->type_name("N")
            ->check(CLI::Range(1, 9))
            ->group("Request");
        auto* q = sub->add_flag("-q,--quiet", quiet, "Quiet")->group("Output");
        sub->add_flag("-v,--verbose", verbose, "Verbose")->excludes(q)->group("Output");
        sub->add_flag("--greet{x}", greet, "Greet")->type_name("[=TEXT]")->group("Output");
        set_help_footer(*sub, {{"Fetch it", "tool fetch --auth basic out.txt"}}, {"A note."});
    }
};

} // namespace

TEST(WrapParagraph, BreaksBetweenWordsWithinTheWidth) {
    const std::string text = "one two three four five six seven eight nine ten";
    const auto wrapped = wrap_paragraph(text, 20, 0, 4);
    for (const auto& line : lines_of(wrapped))
        EXPECT_LE(line.size(), 20u) << wrapped;
    EXPECT_EQ(wrapped, "one two three four\n    five six seven\n    eight nine ten");
}

TEST(WrapParagraph, FirstLineStartsAfterTheColumnsUsed) {
    EXPECT_EQ(wrap_paragraph("aaa bbb ccc", 12, 6, 6), "aaa\n      bbb\n      ccc");
}

TEST(WrapParagraph, CutsAWordLongerThanALine) {
    const auto wrapped = wrap_paragraph("x https://example.org/a/very/long/path y", 16, 2, 2);
    for (const auto& line : lines_of(wrapped))
        EXPECT_LE(line.size() + (&line == &lines_of(wrapped).front() ? 2 : 0), 16u) << wrapped;
    std::string joined;
    for (const char c : wrapped)
        if (c != '\n' && c != ' ') joined += c;
    EXPECT_EQ(joined, "xhttps://example.org/a/very/long/pathy");
}

TEST(WrapParagraph, CountsCodePointsNotBytes) {
    EXPECT_EQ(display_width("naïve — ok"), 10u);
    EXPECT_EQ(wrap_paragraph("ééé ééé", 7, 0, 0), "ééé ééé");
}

TEST(HelpFormatter, SectionsValueNamesAndNoCli11Annotations) {
    Fixture f;
    const std::string help = f.sub->help("tool");
    for (const auto& line : lines_of(help))
        EXPECT_LE(display_width(line), 60u) << line;
    EXPECT_NE(help.find("Usage: tool fetch [OPTIONS] [FILE]"), std::string::npos) << help;
    EXPECT_NE(help.find("\nRequest:\n  --auth basic|digest"), std::string::npos) << help;
    EXPECT_NE(help.find("  --count N "), std::string::npos) << help;
    EXPECT_NE(help.find("\nOutput:\n  -q, --quiet"), std::string::npos) << help;
    EXPECT_NE(help.find("  --greet[=TEXT] "), std::string::npos) << help;
    EXPECT_NE(help.find("\nExamples:\n  Fetch it:\n      tool fetch --auth basic out.txt\n"),
              std::string::npos)
        << help;
    for (const char* noise : {"Excludes", "INT in", "{basic", "{x}", "FILE TEXT", "Positionals"})
        EXPECT_EQ(help.find(noise), std::string::npos) << noise << "\n" << help;
}

TEST(HelpFormatter, TopLevelListsSubcommands) {
    Fixture f;
    const std::string help = f.app.help();
    EXPECT_NE(help.find("Usage: tool SUBCOMMAND"), std::string::npos) << help;
    EXPECT_NE(help.find("       tool help [SUBCOMMAND]"), std::string::npos) << help;
    EXPECT_NE(help.find("\nSubcommands:\n  fetch"), std::string::npos) << help;
}

TEST(DocumentOptions, ChoicesRawTypeAndSections) {
    Fixture f;
    const auto docs = document_options(*f.sub);
    const auto find = [&docs](const std::string& name) {
        for (const auto& doc : docs) {
            for (const auto& n : doc.long_names)
                if (n == name) return doc;
        }
        ADD_FAILURE() << name;
        return OptionDoc{};
    };
    EXPECT_EQ(find("--auth").choices, (std::vector<std::string>{"basic", "digest"}));
    EXPECT_EQ(find("--auth").value, "basic|digest");
    EXPECT_EQ(find("--count").value, "N");
    EXPECT_TRUE(find("--count").choices.empty());
    EXPECT_EQ(find("--quiet").value, "");
    EXPECT_EQ(find("--greet").value, "[=TEXT]");
    EXPECT_EQ(find("--auth").section, "Request");
}

TEST(CompletionKind, FromTheValueName) {
    EXPECT_EQ(completion_kind("FILE", false), "file");
    EXPECT_EQ(completion_kind("DATA|FILE", false), "file");
    EXPECT_EQ(completion_kind("DIR", false), "dir");
    EXPECT_EQ(completion_kind("@FILE", false), "none");
    EXPECT_EQ(completion_kind("DURATION", false), "none");
    EXPECT_EQ(completion_kind("bar|line|json", true), "choices");
}

TEST(ListOptionsJson, DescribesSubcommandsOptionsAndOperands) {
    Fixture f;
    const auto doc = nlohmann::json::parse(list_options_json(f.app));
    ASSERT_EQ(doc["subcommands"].size(), 1u);
    const auto& sub = doc["subcommands"][0];
    EXPECT_EQ(sub["name"], "fetch");
    EXPECT_EQ(sub["operands"][0]["name"], "FILE");
    bool seen_auth = false, seen_greet = false;
    for (const auto& option : sub["options"]) {
        if (option["long"] == nlohmann::json::array({"--auth"})) {
            seen_auth = true;
            EXPECT_EQ(option["choices"], nlohmann::json::array({"basic", "digest"}));
            EXPECT_EQ(option["complete"], "choices");
            EXPECT_EQ(option["attached"], false);
        }
        if (option["long"] == nlohmann::json::array({"--greet"})) {
            seen_greet = true;
            EXPECT_EQ(option["value"], "TEXT");
            EXPECT_EQ(option["attached"], true);
        }
    }
    EXPECT_TRUE(seen_auth && seen_greet);
}
