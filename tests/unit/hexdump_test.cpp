#include <fstream>
#include <gtest/gtest.h>
#include <nettool/crlf.hpp>
#include <nettool/hexdump.hpp>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace nettool;

TEST(Hexdump, FormatsDirectionOffsetHexAndAscii) {
    const std::string data = "Hello\n";
    EXPECT_EQ(hexdump_lines('>', 0, data),
              "> 00000000  48 65 6c 6c 6f 0a                                 |Hello.|\n");
}

TEST(Hexdump, SplitsIntoSixteenByteLinesAndContinuesTheOffset) {
    std::string data;
    for (int i = 0; i < 20; ++i)
        data += static_cast<char>('a' + i);
    data[3] = '\0';
    const std::string out = hexdump_lines('<', 0x100, data);
    EXPECT_EQ(out,
              "< 00000100  61 62 63 00 65 66 67 68  69 6a 6b 6c 6d 6e 6f 70  |abc.efghijklmnop|\n"
              "< 00000110  71 72 73 74                                       |qrst|\n");
    EXPECT_EQ(hexdump_lines('<', 0, std::string_view("")), "");
}

TEST(Hexdump, WritesBothDirectionsToTheFile) {
    char path[] = "/tmp/nettool-hexdump-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    {
        auto dump = HexDump::open(path);
        ASSERT_TRUE(dump);
        dump->sent(std::string_view("ab"));
        dump->received(std::string_view("xyz"));
        dump->sent(std::string_view("c"));
        EXPECT_TRUE(dump->status());
    }
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    ::unlink(path);
    EXPECT_EQ(text.str(), hexdump_lines('>', 0, std::string_view("ab")) +
                              hexdump_lines('<', 0, std::string_view("xyz")) +
                              hexdump_lines('>', 2, std::string_view("c")));
}

TEST(Hexdump, UnwritableFileIsAFileError) {
    auto dump = HexDump::open("/nonexistent-dir/dump.txt");
    ASSERT_FALSE(dump);
    EXPECT_EQ(dump.error().kind, ErrorKind::file_io);
    EXPECT_NE(dump.error().message.find("/nonexistent-dir/dump.txt"), std::string::npos);
}

TEST(Crlf, TurnsLfIntoCrlfOnceAcrossChunks) {
    std::string out;
    char previous = '\0';
    crlf_transform(std::string_view("a\nb\r"), out, previous);
    crlf_transform(std::string_view("\nc\n\n"), out, previous);
    EXPECT_EQ(out, "a\r\nb\r\nc\r\n\r\n");
}
