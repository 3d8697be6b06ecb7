// The one escape for foreign text on its way to a terminal (cmd/escape.hpp), and the UTF-8
// decoder under it (nettool/utf8.hpp).
#include "escape.hpp"

#include <gtest/gtest.h>
#include <nettool/utf8.hpp>
#include <string>

using nettool::cli::escape_for_terminal;

namespace {

// True when `text` holds no byte a terminal could act on: no C0 control, no DEL, no byte in
// 0x80-0x9f, so neither raw C1 controls nor UTF-8 encoded ones (their second byte) remain.
bool inert(const std::string& text) {
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || (u >= 0x80 && u <= 0x9f)) return false;
    }
    return true;
}

} // namespace

TEST(EscapeForTerminal, Table) {
    struct Case {
        std::string raw;
        std::string expected;
    };
    const Case cases[] = {
        // printable text passes, ASCII and UTF-8 alike
        {"", ""},
        {"HTTP/1.1 200 OK", "HTTP/1.1 200 OK"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"back\\slash \\x1b", "back\\slash \\x1b"}, // an escape-looking text stays as it is
        // C0 controls, none excepted, and DEL
        {"\x1b]0;title\x07", "\\x1b]0;title\\x07"},
        {"a\tb\nc\rd", "a\\x09b\\x0ac\\x0dd"},
        {std::string("nul\0byte", 8), "nul\\x00byte"},
        {"\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"},
        {"del\x7f", "del\\x7f"},
        // C1 controls as raw bytes (not UTF-8) and UTF-8 encoded
        {"\x9b"
         "31m",
         "\\x9b31m"},
        {"\x90\x9d\x9f", "\\x90\\x9d\\x9f"},
        {"\xc2\x9b"
         "31m",
         "\\u009b31m"},
        {"\xc2\x80\xc2\x85\xc2\x9f", "\\u0080\\u0085\\u009f"},
        {"\xc2\xa0nbsp", "\xc2\xa0nbsp"}, // U+00A0 is past C1: printable
        // bidirectional controls that reorder what is shown
        {"evil\xe2\x80\xaetxt.sh", "evil\\u202etxt.sh"},
        {"\xe2\x81\xa6x\xe2\x81\xa9", "\\u2066x\\u2069"},
        // invalid UTF-8: each offending byte
        {"\xff\xfe", "\\xff\\xfe"},
        {"\xc3", "\\xc3"},                            // cut short at the end
        {"\xc3(", "\\xc3("},                          // lead byte without its continuation
        {"\xe2\x82", "\\xe2\\x82"},                   // cut short, three-byte form
        {"\xc0\xaf", "\\xc0\\xaf"},                   // overlong '/'
        {"\xc1\x9b", "\\xc1\\x9b"},                   // overlong ESC-like
        {"\xed\xa0\x80", "\\xed\\xa0\\x80"},          // a surrogate
        {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"}, // past U+10FFFF
        {"\x80"
         "abc",
         "\\x80abc"}, // stray continuation byte
    };
    for (const auto& c : cases) {
        const std::string got = escape_for_terminal(c.raw);
        EXPECT_EQ(got, c.expected) << "input: " << ::testing::PrintToString(c.raw);
        EXPECT_EQ(escape_for_terminal(got), got) << "escaping twice changes nothing";
    }
}

TEST(EscapeForTerminal, EveryByteAloneAndAfterC2IsInert) {
    for (int b = 0; b < 256; ++b) {
        const std::string one(1, static_cast<char>(b));
        EXPECT_TRUE(inert(escape_for_terminal(one))) << "byte " << b;
        const std::string after_c2 = "\xc2" + one;
        EXPECT_TRUE(inert(escape_for_terminal(after_c2))) << "bytes c2 " << b;
    }
}

TEST(Utf8, SequencesAndDisplayControls) {
    std::uint32_t code = 0;
    EXPECT_EQ(nettool::utf8_sequence("A", 0, code), 1u);
    EXPECT_EQ(code, 0x41u);
    EXPECT_EQ(nettool::utf8_sequence("\xe2\x82\xac", 0, code), 3u);
    EXPECT_EQ(code, 0x20acu);
    EXPECT_EQ(nettool::utf8_sequence("\xf0\x9f\x98\x80", 0, code), 4u);
    EXPECT_EQ(code, 0x1f600u);
    EXPECT_EQ(nettool::utf8_sequence("\xc0\x80", 0, code), 0u);
    EXPECT_EQ(nettool::utf8_sequence("x\xe2\x82", 1, code), 0u);
    EXPECT_TRUE(nettool::is_display_control(0x1b));
    EXPECT_TRUE(nettool::is_display_control(0x9b));
    EXPECT_TRUE(nettool::is_display_control(0x202e));
    EXPECT_FALSE(nettool::is_display_control(0xa0));
    EXPECT_FALSE(nettool::is_display_control(0x20ac));
}
