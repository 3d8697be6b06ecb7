#include <gtest/gtest.h>
#include <nettool/safe_name.hpp>
#include <string>

using nettool::content_disposition_filename;
using nettool::k_max_safe_name;
using nettool::remote_file_name;
using nettool::safe_name;

namespace {
bool valid_utf8(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80             ? 1
                        : (c & 0xe0) == 0xc0 ? 2
                        : (c & 0xf0) == 0xe0 ? 3
                        : (c & 0xf8) == 0xf0 ? 4
                                             : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
        i += n;
    }
    return true;
}
} // namespace

TEST(SafeName, Table) {
    struct Case {
        std::string raw;
        std::string expected;
    };
    const Case cases[] = {
        {"report.pdf", "report.pdf"},
        {"../../evil.sh", "evil.sh"},
        {"..\\..\\x", "x"},
        {"/etc/passwd", "passwd"},
        {"C:\\Windows\\system.ini", "system.ini"},
        {".bashrc", "bashrc"},
        {"...hidden", "hidden"},
        {".", ""},
        {"..", ""},
        {"", ""},
        {"dir/", ""},
        {std::string("a\x1b[31mb", 7), "a_[31mb"},
        {std::string("nul\0byte", 8), "nul_byte"},
        {"tab\there", "tab_here"},
        {"del\x7f", "del_"},
        {"  spaced  ", "spaced"},
        {"caf\xc3\xa9.txt", "caf\xc3\xa9.txt"}, // valid UTF-8 kept
        {"bad\xff\xfe.txt", "bad__.txt"},       // invalid bytes replaced
        {"c1\xc2\x9b"
         "31m",
         "c1_31m"},                                // C1 CSI is a terminal escape too
        {"evil\xe2\x80\xaetxt.sh", "evil_txt.sh"}, // RIGHT-TO-LEFT OVERRIDE
        {"a/\x1b/b", "b"},
        {"x\n/../y", "y"},
    };
    for (const auto& c : cases)
        EXPECT_EQ(safe_name(c.raw), c.expected) << "raw: " << c.raw;
}

TEST(SafeName, LongNamesAreCutOnACharacterBoundaryKeepingTheExtension) {
    const std::string ascii = std::string(500, 'a') + ".tar";
    const std::string cut = safe_name(ascii);
    EXPECT_EQ(cut.size(), k_max_safe_name);
    EXPECT_EQ(cut.substr(cut.size() - 4), ".tar");

    std::string euro;
    for (int i = 0; i < 300; ++i)
        euro += "\xe2\x82\xac"; // 900 bytes of U+20AC
    euro += ".txt";
    const std::string cut_euro = safe_name(euro);
    EXPECT_LE(cut_euro.size(), k_max_safe_name);
    EXPECT_TRUE(valid_utf8(cut_euro));
    EXPECT_EQ(cut_euro.substr(cut_euro.size() - 4), ".txt");

    // A very long "extension" is not an extension: the name is still bounded.
    const std::string no_ext = "x." + std::string(400, 'e');
    EXPECT_EQ(safe_name(no_ext).size(), k_max_safe_name);
}

TEST(ContentDisposition, HostileHeaders) {
    struct Case {
        std::string header;
        std::string expected; // remote_file_name() with URL path "/dir/file.bin"
    };
    const Case cases[] = {
        {"attachment; filename=\"../../evil.sh\"", "evil.sh"},
        {"attachment; filename=\"..\\\\..\\\\x\"", "x"},
        {"attachment; filename=/etc/passwd", "passwd"},
        {"attachment; filename=\".bashrc\"", "bashrc"},
        {std::string("attachment; filename=\"a\x1b[31mb\""), "a_[31mb"},
        {"attachment; filename=\"\"", "file.bin"}, // empty: fall back to the URL
        {"attachment; filename=", "file.bin"},
        {"attachment", "file.bin"},
        {"", "file.bin"},
        {"attachment; filename*=UTF-8''%2e%2e%2fx", "x"},
        {"attachment; filename=\"plain.txt\"; filename*=UTF-8''%e2%82%ac%20rates.txt",
         "\xe2\x82\xac rates.txt"},
        {"attachment; filename*=UTF-8''pref.txt; filename=\"other.txt\"", "pref.txt"},
        {"attachment; filename*=iso-8859-1'en'%E9t%E9.txt", "\xc3\xa9t\xc3\xa9.txt"},
        {"attachment; filename*=KOI8-R''%c1.txt; filename=fallback.txt", "fallback.txt"},
        {"ATTACHMENT; FILENAME=\"Upper.TXT\"", "Upper.TXT"},
        {"inline; name=\"x\"; filename=report.pdf ; size=10", "report.pdf"},
        {"attachment; filename=\"quoted \\\"name\\\".txt\"", "quoted \"name\".txt"},
        {"attachment; filename=\"..\"", "file.bin"},
        {"attachment; filename=\"semi;colon.txt\"", "semi;colon.txt"},
        {"attachment; filename*=UTF-8''%00%0a.txt", "__.txt"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(remote_file_name(c.header, "/dir/file.bin"), c.expected)
            << "header: " << c.header;
    }
    const std::string very_long = "attachment; filename=\"" + std::string(100000, 'z') + ".iso\"";
    const std::string name = remote_file_name(very_long, "/x");
    EXPECT_EQ(name.size(), k_max_safe_name);
    EXPECT_EQ(name.substr(name.size() - 4), ".iso");
}

TEST(ContentDisposition, ParserReturnsTheRawOfferedName) {
    EXPECT_EQ(content_disposition_filename("attachment; filename=\"../a\""), "../a");
    EXPECT_EQ(content_disposition_filename("attachment; filename*=UTF-8''%2e%2e%2fx"), "../x");
    EXPECT_FALSE(content_disposition_filename("attachment; filename*=UTF-8"));
    EXPECT_FALSE(content_disposition_filename("attachment;;;"));
    EXPECT_FALSE(content_disposition_filename(";filename"));
}

TEST(RemoteFileName, FromTheUrlPath) {
    EXPECT_EQ(remote_file_name(std::nullopt, "/pub/file.tar.gz"), "file.tar.gz");
    EXPECT_EQ(remote_file_name(std::nullopt, "/pub/my%20file.txt"), "my file.txt");
    EXPECT_EQ(remote_file_name(std::nullopt, "/a/%2e%2e%2f%2e%2e%2fevil"), "evil");
    EXPECT_EQ(remote_file_name(std::nullopt, "/a/..%5c..%5cwin.ini"), "win.ini");
    EXPECT_EQ(remote_file_name(std::nullopt, "/"), "index.html");
    EXPECT_EQ(remote_file_name(std::nullopt, ""), "index.html");
    EXPECT_EQ(remote_file_name(std::nullopt, "/dir/"), "index.html");
    EXPECT_EQ(remote_file_name(std::nullopt, "/dir/.."), "download");
    EXPECT_EQ(remote_file_name(std::nullopt, "/dir/%2e"), "download");
    EXPECT_EQ(remote_file_name(std::nullopt, "/x.cgi?name=../../y"), "x.cgi");
    EXPECT_EQ(remote_file_name(std::nullopt, "/%1b%5b2J.txt"), "_[2J.txt");
}

// Found by fuzzing: trimming blanks, then dots, then blanks exposed a dot again.
TEST(SafeName, MixedLeadingBlanksAndDotsNeverLeaveAHiddenName) {
    EXPECT_EQ(safe_name(". .bashrc"), "bashrc");
    EXPECT_EQ(safe_name(" . . .profile"), "profile");
    EXPECT_EQ(safe_name(". . ."), "");
    EXPECT_EQ(remote_file_name(std::nullopt, "/x/%20.%20.bashrc"), "bashrc");
    EXPECT_EQ(remote_file_name("attachment; filename=\" . .ssh\"", "/f"), "ssh");
}

TEST(SafeName, ACutAmongBlanksLeavesNoTrailingBlank) {
    const std::string name = safe_name(std::string(190, 'x') + std::string(30, ' ') + "yyyy");
    EXPECT_EQ(name, std::string(190, 'x'));
    EXPECT_EQ(safe_name(name), name);
}
