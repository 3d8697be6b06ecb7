// get -v's header lines and --trace-ascii's layout (cmd/http_trace.hpp).
#include "http_trace.hpp"

#include <gtest/gtest.h>

using namespace nettool::cli;
using nettool::http::TraceKind;

TEST(RedactCredentials, KeepsSchemesNamesAndAttributes) {
    EXPECT_EQ(redact_credentials("Authorization: Basic YWxpY2U6cw=="),
              "Authorization: Basic [redacted]");
    EXPECT_EQ(redact_credentials("proxy-authorization: Bearer abc"),
              "proxy-authorization: Bearer [redacted]");
    EXPECT_EQ(redact_credentials("Authorization: token"), "Authorization: [redacted]");
    EXPECT_EQ(redact_credentials("Cookie: a=1; b=2"), "Cookie: a=[redacted]; b=[redacted]");
    EXPECT_EQ(redact_credentials("set-cookie: sid=xyz; Path=/; HttpOnly"),
              "set-cookie: sid=[redacted]; Path=/; HttpOnly");
    EXPECT_EQ(redact_credentials("PASS hunter2"), "PASS [redacted]");
    EXPECT_EQ(redact_credentials("X-Authorization-Hint: keep"), "X-Authorization-Hint: keep");
    EXPECT_EQ(redact_credentials("Cookies-Are: fine"), "Cookies-Are: fine");
}

TEST(HeaderTraceLines, PrefixedEscapedWithoutLineEnds) {
    EXPECT_EQ(header_trace_lines("> ", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
              "> GET / HTTP/1.1\n> Host: x\n");
    EXPECT_EQ(header_trace_lines("< ", "X-Evil: \x1b[31mred\x07\r\n"),
              "< X-Evil: \\x1b[31mred\\x07\n");
    EXPECT_EQ(header_trace_lines("< ", "A: b\rc\r\n"), "< A: b\\x0dc\n");
    EXPECT_EQ(header_trace_lines("< ", "\r\n"), "");
}

TEST(TraceAsciiChunk, CurlsLayout) {
    EXPECT_EQ(trace_ascii_chunk(TraceKind::header_out, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
              "=> Send header, 27 bytes (0x1b)\n"
              "0000: GET / HTTP/1.1\n"
              "0010: Host: x\n"
              "0019: \n");
    EXPECT_EQ(trace_ascii_chunk(TraceKind::data_in, std::string_view("a\0b\x80\n", 5)),
              "<= Recv data, 5 bytes (0x5)\n0000: a.b..\n");
    EXPECT_EQ(trace_ascii_chunk(TraceKind::info, "Connected\n"), "== Info: Connected\n");
    const std::string long_line(70, 'x');
    EXPECT_EQ(trace_ascii_chunk(TraceKind::data_out, long_line),
              "=> Send data, 70 bytes (0x46)\n0000: " + std::string(64, 'x') + "\n0040: xxxxxx\n");
}
