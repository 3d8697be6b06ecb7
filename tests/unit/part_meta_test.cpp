#include <gtest/gtest.h>
#include <nettool/part_meta.hpp>
#include <string>

using nettool::format_part_meta;
using nettool::parse_part_meta;
using nettool::PartMeta;

TEST(PartMeta, WritesTextThatReadsBackTheSame) {
    PartMeta meta;
    meta.url = "http://example.com/f";
    meta.etag = "\"abc\"";
    meta.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    meta.content_length = 18446744073709551615u;
    meta.started = 1700000000;
    const auto back = parse_part_meta(format_part_meta(meta));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->url, meta.url);
    EXPECT_EQ(back->etag, meta.etag);
    EXPECT_EQ(back->last_modified, meta.last_modified);
    EXPECT_EQ(back->content_length, meta.content_length);
    EXPECT_EQ(back->started, meta.started);
    meta.content_length.reset();
    EXPECT_EQ(parse_part_meta(format_part_meta(meta))->content_length, std::nullopt);
}

TEST(PartMeta, AStartTimeThatIsNotAnIntegerMakesItUnreadable) {
    EXPECT_FALSE(parse_part_meta(R"({"started":1e300})")); // was undefined behaviour
    EXPECT_FALSE(parse_part_meta(R"({"started":"now"})"));
    EXPECT_FALSE(parse_part_meta(R"({"started":1.5})"));
    EXPECT_TRUE(parse_part_meta(R"({"started":-1})"));
    EXPECT_TRUE(parse_part_meta("{}"));
    EXPECT_FALSE(parse_part_meta("[]"));
}

TEST(PartMeta, ASegmentMapReadsBackAsVersionTwo) {
    PartMeta meta;
    meta.url = "http://example.com/f";
    meta.content_length = 100;
    meta.segments = {{0, 40, 40}, {40, 70, 5}, {70, 100, 0}};
    const std::string text = format_part_meta(meta);
    EXPECT_NE(text.find("\"version\":2"), std::string::npos);
    const auto back = parse_part_meta(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->segments, meta.segments);
    // A sidecar written in order stays the version-1 text older builds read.
    meta.segments.clear();
    EXPECT_EQ(format_part_meta(meta).find("version"), std::string::npos);
    EXPECT_TRUE(parse_part_meta(format_part_meta(meta))->segments.empty());
}

TEST(PartMeta, AnImpossibleSegmentMapOrAnUnknownVersionMakesItUnreadable) {
    const auto with = [](const char* segments) {
        return parse_part_meta(std::string(R"({"content_length":100,"version":2,"segments":)") +
                               segments + "}");
    };
    EXPECT_TRUE(with("[[0,50,50],[50,100,3]]"));
    EXPECT_FALSE(with("[[0,60,0],[50,100,0]]")); // overlapping
    EXPECT_FALSE(with("[[50,100,0],[0,50,0]]")); // unsorted
    EXPECT_FALSE(with("[[0,101,0]]"));           // past the length
    EXPECT_FALSE(with("[[0,50,51]]"));           // more done than the segment holds
    EXPECT_FALSE(with("[[10,10,0]]"));           // empty
    EXPECT_FALSE(with("[[0,50]]"));
    EXPECT_FALSE(with("[[0,-50,0]]"));
    EXPECT_FALSE(with("[[0,5e1,0]]"));
    EXPECT_FALSE(with("[]"));
    EXPECT_FALSE(with("{}"));
    EXPECT_FALSE(parse_part_meta(R"({"version":2,"segments":[[0,50,0]]})")); // no length
    EXPECT_FALSE(parse_part_meta(R"({"version":3})"));
    EXPECT_FALSE(parse_part_meta(R"({"version":"2"})"));
    EXPECT_FALSE(parse_part_meta(R"({"version":0})"));
}
