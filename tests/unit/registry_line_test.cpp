#include <gtest/gtest.h>
#include <nettool/registry.hpp>
#include <string>

using nettool::DownloadState;
using nettool::format_registry_line;
using nettool::parse_registry_line;
using nettool::RegistryEntry;

TEST(RegistryLine, WritesALineThatReadsBackTheSame) {
    RegistryEntry e;
    e.path = "/tmp/area/caf\xc3\xa9\nname.iso";
    e.device = 18446744073709551615u;
    e.inode = 42;
    e.birth_ns = -5;
    e.url = "http://example.com/\x1b";
    e.time = 1700000000;
    e.state = DownloadState::complete;
    e.pid = 4242;
    const std::string line = format_registry_line(e);
    EXPECT_EQ(line.find('\n'), std::string::npos); // one entry per line, whatever the names
    const auto back = parse_registry_line(line);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->path, e.path);
    EXPECT_EQ(back->device, e.device);
    EXPECT_EQ(back->inode, e.inode);
    EXPECT_EQ(back->birth_ns, e.birth_ns);
    EXPECT_EQ(back->url, e.url);
    EXPECT_EQ(back->time, e.time);
    EXPECT_EQ(back->state, e.state);
    EXPECT_EQ(back->pid, e.pid);
}

TEST(RegistryLine, OptionalFieldsDefault) {
    const auto e = parse_registry_line(R"({"path":"x","device":1,"inode":2})");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->time, 0);
    EXPECT_EQ(e->pid, 0);
    EXPECT_EQ(e->state, DownloadState::in_progress);
}

// Inputs fuzzing found or aimed at: each is a damaged line, not a guess at what it meant.
TEST(RegistryLine, DamagedLinesAreRejected) {
    for (const char* line : {
             R"({"path":"x","device":1,"inode":2,"pid":1e300})", // was undefined behaviour
             R"({"path":"x","device":1,"inode":2,"time":1e300})",
             R"({"path":"x","device":1e300,"inode":2})",
             R"({"path":"x","device":1,"inode":1.5})",
             R"({"path":"x","device":-1,"inode":2})",
             R"({"path":"x","device":true,"inode":2})",
             R"({"path":"x","device":"1","inode":2})",
             R"({"path":"x","device":1,"inode":2,"pid":4294967296})",
             R"({"path":"x","device":1,"inode":2,"time":-1})",
             R"({"path":"x","device":1,"inode":2,"time":9223372036854775807})",
             R"({"path":"/tmp/area/a\u0000/../b","device":1,"inode":2})",
             R"({"path":"","device":1,"inode":2})",
             R"({"path":"x","device":1})",
             R"({"path":"x","device":1,"inode":2,"url":7})",
             R"([1,2,3])",
             "not json",
         }) {
        EXPECT_FALSE(parse_registry_line(line)) << line;
    }
}
