#include <gtest/gtest.h>
#include <nettool/retrieve_list.hpp>
#include <string>

using nettool::k_max_list_line;
using nettool::parse_retrieve_list;

TEST(RetrieveList, UrlsFilesBlanksAndComments) {
    const auto parsed = parse_retrieve_list("# a comment\n"
                                            "http://a/x\n"
                                            "\n"
                                            "   \t \n"
                                            "  http://a/y   y.bin  \r\n"
                                            "\t# an indented comment\n"
                                            "http://a/z\tz.bin");
    ASSERT_TRUE(parsed.problems.empty());
    ASSERT_EQ(parsed.entries.size(), 3u);
    EXPECT_EQ(parsed.entries[0].line, 2u);
    EXPECT_EQ(parsed.entries[0].url, "http://a/x");
    EXPECT_FALSE(parsed.entries[0].file);
    EXPECT_EQ(parsed.entries[1].line, 5u);
    EXPECT_EQ(parsed.entries[1].url, "http://a/y");
    EXPECT_EQ(parsed.entries[1].file, "y.bin");
    EXPECT_EQ(parsed.entries[2].line, 7u);
    EXPECT_EQ(parsed.entries[2].file, "z.bin");
}

TEST(RetrieveList, EmptyTextHasNothing) {
    const auto parsed = parse_retrieve_list("");
    EXPECT_TRUE(parsed.entries.empty());
    EXPECT_TRUE(parsed.problems.empty());
    EXPECT_TRUE(parse_retrieve_list("\n\n# only\n").entries.empty());
}

TEST(RetrieveList, AMalformedLineIsAProblemOfThatLineOnly) {
    const std::string text = "http://a/1\n"
                             "http://a/2 two words.bin\n"
                             "http://a/3 -\n"
                             "http://a/4 \x1b[2Jx\n"
                             "http://a/5 \xff\xfe\n"
                             "http://a/6 evil\xe2\x80\xaetxt.sh\n"
                             "http://a/7\n";
    const auto parsed = parse_retrieve_list(text);
    ASSERT_EQ(parsed.entries.size(), 2u);
    EXPECT_EQ(parsed.entries[0].line, 1u);
    EXPECT_EQ(parsed.entries[1].line, 7u);
    ASSERT_EQ(parsed.problems.size(), 5u);
    EXPECT_EQ(parsed.problems[0].line, 2u);
    EXPECT_NE(parsed.problems[0].message.find("3 fields"), std::string::npos);
    EXPECT_EQ(parsed.problems[1].line, 3u);
    EXPECT_NE(parsed.problems[1].message.find("standard output"), std::string::npos);
    EXPECT_EQ(parsed.problems[2].line, 4u);
    EXPECT_NE(parsed.problems[2].message.find("control character"), std::string::npos);
    EXPECT_EQ(parsed.problems[3].line, 5u);
    EXPECT_NE(parsed.problems[3].message.find("UTF-8"), std::string::npos);
    EXPECT_EQ(parsed.problems[4].line, 6u);
}

TEST(RetrieveList, ANulOrAnOverlongLineIsRefused) {
    const auto nul = parse_retrieve_list(std::string("http://a/\0x\n", 12));
    ASSERT_EQ(nul.problems.size(), 1u);
    const auto longer = parse_retrieve_list("http://a/" + std::string(k_max_list_line, 'x'));
    ASSERT_EQ(longer.problems.size(), 1u);
    EXPECT_NE(longer.problems[0].message.find("longer"), std::string::npos);
}

TEST(RetrieveList, HostileFilesArePassedOnForTheCallerToJudge) {
    // ../x and /abs are paths like the FILE operand: the command line decides (with
    // --output-dir they are refused there).
    const auto parsed = parse_retrieve_list("http://a/1 ../x\nhttp://a/2 /tmp/abs\n");
    ASSERT_EQ(parsed.entries.size(), 2u);
    EXPECT_EQ(parsed.entries[0].file, "../x");
    EXPECT_EQ(parsed.entries[1].file, "/tmp/abs");
}
