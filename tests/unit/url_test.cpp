#include <gtest/gtest.h>
#include <nettool/http/transfer.hpp>
#include <nettool/http/url.hpp>

using namespace nettool;
using namespace nettool::http;

TEST(Url, SchemeDefaultsToHttp) {
    auto url = parse_url("example.com/a?b=1");
    ASSERT_TRUE(url) << url.error().message;
    EXPECT_EQ(url->scheme, "http");
    EXPECT_EQ(url->host, "example.com");
    EXPECT_EQ(url->path, "/a");
    EXPECT_EQ(url->query, "b=1");
    EXPECT_EQ(url->text, "http://example.com/a?b=1");
    auto with_port = parse_url("localhost:8080/x");
    ASSERT_TRUE(with_port);
    EXPECT_EQ(with_port->scheme, "http");
    EXPECT_EQ(with_port->port, 8080);
    // Not guessed from the host name.
    EXPECT_EQ(parse_url("ftp.example.com")->scheme, "http");
}

TEST(Url, AcceptedSchemes) {
    EXPECT_EQ(parse_url("HTTPS://example.com/")->scheme, "https");
    EXPECT_EQ(parse_url("ftp://example.com/f")->scheme, "ftp");
    EXPECT_EQ(parse_url("file:///etc/hostname")->path, "/etc/hostname");
    EXPECT_EQ(parse_url("http://[::1]:99/")->host, "[::1]");
    EXPECT_TRUE(parse_url("http://u:p@example.com/")->has_credentials);
    EXPECT_FALSE(parse_url("http://example.com/")->has_credentials);
}

TEST(Url, MalformedIsUsageErrorNamingTheUrl) {
    for (const char* text : {"http://[::1", "http://exa mple.com/", "htp:/x", "gopher://x/",
                             "http://", "http://example.com:99999/",
                             "http://a\x01"
                             "b/"}) {
        auto url = parse_url(text);
        ASSERT_FALSE(url) << text;
        EXPECT_EQ(url.error().kind, ErrorKind::usage);
        EXPECT_NE(url.error().message.find("URL"), std::string::npos) << url.error().message;
    }
    EXPECT_EQ(parse_url("").error().kind, ErrorKind::usage);
}

TEST(ResponseHead, FindIsCaseInsensitiveAndOrdered) {
    ResponseHead head;
    head.headers = {{"Set-Cookie", "a=1"}, {"content-type", "text/plain"}, {"SET-COOKIE", "b=2"}};
    EXPECT_EQ(head.find("Content-Type"), "text/plain");
    EXPECT_EQ(head.find("set-cookie"), "a=1");
    EXPECT_EQ(head.find("X-None"), std::nullopt);
    auto all = head.find_all("Set-Cookie");
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1], "b=2");
    EXPECT_EQ(describe_status(404, "Not Found", "http://x/"), "HTTP 404 Not Found: http://x/");
    EXPECT_EQ(describe_status(404, "", "http://x/"), "HTTP 404: http://x/");
}

// Found by fuzzing: libcurl accepted these but rebuilt them into URLs it then rejects.
TEST(Url, AcceptedOnlyWhenLibcurlsOwnFormReadsBack) {
    for (const char* text : {"file:/t:?", "file:///a/.."}) {
        auto url = parse_url(text);
        ASSERT_FALSE(url) << text << " -> " << url->text;
        EXPECT_EQ(url.error().kind, ErrorKind::usage);
    }
    auto with_query = parse_url("file:///etc/hostname?x=1");
    ASSERT_TRUE(with_query);
    EXPECT_EQ(with_query->text, "file:///etc/hostname");
    EXPECT_EQ(with_query->query, ""); // the parts describe the URL that is fetched
    for (const char* text : {"example.com/a/../b?q#f", "http://[::1]:99/x", "ftp://u:p@h/f"}) {
        auto url = parse_url(text);
        ASSERT_TRUE(url) << text;
        auto again = parse_url(url->text);
        ASSERT_TRUE(again) << url->text;
        EXPECT_EQ(again->text, url->text);
        EXPECT_EQ(again->path, url->path);
        EXPECT_EQ(again->query, url->query);
    }
}

TEST(Url, ProxiesLibcurlCannotUseAreUsageErrors) {
    using nettool::http::check_proxy_url;
    for (const char* good : {"http://127.0.0.1:3128", "proxy.example:8080", "socks5h://[::1]:1080",
                             "https://user:pw@proxy.example", "HTTP://p"}) {
        auto checked = check_proxy_url(good);
        EXPECT_TRUE(checked) << good << ": " << checked.error().message;
    }
    for (const char* bad : {"", "http://[::1", "notascheme://x:1", "http://127.0.0.1:99999",
                            ":::", "socks9://h", "http://h:0", "http://", "a b"}) {
        auto checked = check_proxy_url(bad);
        ASSERT_FALSE(checked) << bad;
        EXPECT_EQ(checked.error().kind, nettool::ErrorKind::usage) << bad;
        EXPECT_EQ(checked.error().message.rfind(std::string("bad --proxy '") + bad + "'", 0), 0u)
            << checked.error().message;
    }
}

TEST(Url, PasswordsNeverShow) {
    using nettool::http::without_password;
    auto url = parse_url("http://alice:secret@example.com/x");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->text, "http://alice:secret@example.com/x"); // what libcurl gets
    EXPECT_EQ(url->shown, "http://alice@example.com/x");       // what anything shows
    EXPECT_EQ(parse_url("example.com/y")->shown, "http://example.com/y");
    EXPECT_EQ(without_password("http://alice:secret@127.0.0.1:99/missing"),
              "http://alice@127.0.0.1:99/missing");
    EXPECT_EQ(without_password("http://alice@h/"), "http://alice@h/");
    EXPECT_EQ(without_password("http://h/a@b"), "http://h/a@b");
    EXPECT_EQ(without_password("not a url @ all"), "not a url @ all");
}
