// Reading the command line before CLI11 does, to name an unknown option (cmd/usage_hints.hpp).
#include "usage_hints.hpp"

#include <gtest/gtest.h>
#include <string>
#include <vector>

using namespace nettool::cli;

namespace {

struct Fixture {
    CLI::App app{"A tool.", "nettool"};
    std::string value, send;
    bool quiet = false, keep = false;
    std::vector<std::string> operands;

    Fixture() {
        auto* sub = app.add_subcommand("connect", "Connect.");
        sub->add_option("target", operands, "Where");
        sub->add_option("-w,--timeout", value, "Timeout");
        sub->add_option("--send", send, "Send");
        sub->add_flag("-q,--quiet", quiet, "Quiet");
        sub->add_flag("-k,--keep-open", keep, "Keep");
        sub->add_flag("-C,--crlf", keep, "CRLF");
        sub->add_flag("--json", keep, "JSON");
    }

    ScannedArguments scan(std::vector<const char*> args) {
        args.insert(args.begin(), "nettool");
        return scan_arguments(app, static_cast<int>(args.size()), args.data());
    }
};

} // namespace

TEST(EditDistance, CountsSwapsAsOneEdit) {
    EXPECT_EQ(edit_distance("timeout", "timeout"), 0u);
    EXPECT_EQ(edit_distance("timout", "timeout"), 1u);
    EXPECT_EQ(edit_distance("tiemout", "timeout"), 1u);
    EXPECT_EQ(edit_distance("", "abc"), 3u);
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(CloseNames, MisspellingsAndUnambiguousStarts) {
    const std::vector<std::string> names{"timeout", "connect-timeout", "verbose", "version"};
    EXPECT_EQ(close_names("timout", names), std::vector<std::string>{"timeout"});
    EXPECT_EQ(close_names("verb", names), std::vector<std::string>{"verbose"});
    EXPECT_EQ(close_names("versoin", names), std::vector<std::string>{"version"});
    EXPECT_TRUE(close_names("frobnicate", names).empty());
    EXPECT_TRUE(close_names("", names).empty());
}

TEST(ScanArguments, KnownOptionsValuesAndOperands) {
    Fixture f;
    const auto s = f.scan({"connect", "-w", "-x", "--send=-y", "-qk", "-w5", "host", "80"});
    EXPECT_FALSE(s.problem) << *s.problem;
    ASSERT_NE(s.subcommand, nullptr);
    EXPECT_EQ(s.subcommand->get_name(), "connect");
    EXPECT_EQ(s.operands, (std::vector<std::string>{"host", "80"}));
}

TEST(ScanArguments, EverythingAfterDoubleDashIsAnOperand) {
    Fixture f;
    const auto s = f.scan({"connect", "--", "-x", "80"});
    EXPECT_FALSE(s.problem);
    EXPECT_EQ(s.operands, (std::vector<std::string>{"-x", "80"}));
}

TEST(ScanArguments, NegativeNumberIsAnOperand) {
    Fixture f;
    EXPECT_FALSE(f.scan({"connect", "-5"}).problem);
}

TEST(ScanArguments, NamesTheFirstUnknownOption) {
    Fixture f;
    const auto s = f.scan({"connect", "--timout", "5", "--bogus", "host"});
    ASSERT_TRUE(s.problem);
    EXPECT_EQ(*s.problem,
              "--timout is not an option of 'nettool connect'; did you mean --timeout?");
}

TEST(ScanArguments, UnknownLetterInACluster) {
    Fixture f;
    const auto s = f.scan({"connect", "-qx", "host"});
    ASSERT_TRUE(s.problem);
    EXPECT_TRUE(s.problem->starts_with("-x (in -qx) is not an option of 'nettool connect'"))
        << *s.problem;
}

TEST(ScanArguments, OneDashLongOptionAndOtherCase) {
    Fixture f;
    auto s = f.scan({"connect", "-keep-open"});
    ASSERT_TRUE(s.problem);
    EXPECT_NE(s.problem->find("did you mean --keep-open?"), std::string::npos) << *s.problem;
    s = f.scan({"connect", "-c"});
    ASSERT_TRUE(s.problem);
    EXPECT_NE(s.problem->find("did you mean -C (--crlf)?"), std::string::npos) << *s.problem;
}

TEST(ScanArguments, UnknownSubcommandAndJson) {
    Fixture f;
    auto s = f.scan({"conect"});
    ASSERT_TRUE(s.problem);
    EXPECT_EQ(*s.problem, "'conect' is not a subcommand; did you mean connect?");
    s = f.scan({"connect", "--json", "--nope"});
    EXPECT_TRUE(s.json);
}

TEST(MisreadHabit, NcQuitAfterSeconds) {
    Fixture f;
    auto s = f.scan({"connect", "-q", "1", "host", "80"});
    EXPECT_FALSE(s.problem);
    auto hint = misread_habit(s);
    ASSERT_TRUE(hint);
    EXPECT_TRUE(hint->starts_with("-q is --quiet and takes no value")) << *hint;
    // -q before a bare port is nettool's own -q: no hint.
    s = f.scan({"connect", "-q", "8080"});
    EXPECT_FALSE(misread_habit(s));
}
