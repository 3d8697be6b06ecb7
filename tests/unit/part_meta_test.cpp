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
