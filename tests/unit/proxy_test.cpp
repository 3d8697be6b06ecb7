// Which proxy connect goes through: curl's no_proxy rules, the order of --proxy, ALL_PROXY and
// --noproxy/NO_PROXY, and the schemes connect accepts.
#include <gtest/gtest.h>
#include <nettool/proxy.hpp>

using nettool::choose_proxy;
using nettool::no_proxy_matches;
using nettool::ProxyEnvironment;

TEST(NoProxy, NamesMatchThemselvesAndTheirParentDomains) {
    EXPECT_TRUE(no_proxy_matches("localhost", "localhost"));
    EXPECT_TRUE(no_proxy_matches("www.example.com", "example.com"));
    EXPECT_TRUE(no_proxy_matches("www.example.com", ".example.com"));
    EXPECT_TRUE(no_proxy_matches("example.com", ".example.com"));
    EXPECT_TRUE(no_proxy_matches("WWW.Example.COM", "example.com"));
    EXPECT_TRUE(no_proxy_matches("www.example.com.", "example.com"));
    EXPECT_TRUE(no_proxy_matches("www.example.com", "example.com."));
    EXPECT_FALSE(no_proxy_matches("myexample.com", "example.com"));
    EXPECT_FALSE(no_proxy_matches("example.com", "www.example.com"));
    EXPECT_FALSE(no_proxy_matches("example.org", "example.com"));
}

TEST(NoProxy, ListsAreSeparatedByCommasWithBlanksAround) {
    EXPECT_TRUE(no_proxy_matches("b.test", "a.test,b.test"));
    EXPECT_TRUE(no_proxy_matches("b.test", " a.test , b.test "));
    EXPECT_TRUE(no_proxy_matches("b.test", ",,a.test,,\tb.test,"));
    EXPECT_FALSE(no_proxy_matches("c.test", "a.test,b.test"));
    EXPECT_FALSE(no_proxy_matches("b.test", ""));
    EXPECT_FALSE(no_proxy_matches("b.test", " , "));
    EXPECT_FALSE(no_proxy_matches("", "*"));
}

TEST(NoProxy, AStarAloneMatchesEveryHost) {
    EXPECT_TRUE(no_proxy_matches("anything.test", "*"));
    EXPECT_TRUE(no_proxy_matches("10.1.2.3", "*"));
    // Not a wildcard inside a list (curl's rule): "*" there is an ordinary entry.
    EXPECT_FALSE(no_proxy_matches("anything.test", "a.test,*"));
}

TEST(NoProxy, AddressesMatchAddressesAndBlocks) {
    EXPECT_TRUE(no_proxy_matches("127.0.0.1", "127.0.0.1"));
    EXPECT_TRUE(no_proxy_matches("10.1.2.3", "10.0.0.0/8"));
    EXPECT_FALSE(no_proxy_matches("11.1.2.3", "10.0.0.0/8"));
    EXPECT_TRUE(no_proxy_matches("::1", "::1"));
    EXPECT_TRUE(no_proxy_matches("fd00::5", "localhost,fd00::/8"));
    EXPECT_FALSE(no_proxy_matches("fe80::1", "fd00::/8"));
    // An address is not a name: a domain entry never matches it, nor a bad block.
    EXPECT_FALSE(no_proxy_matches("10.1.2.3", "2.3"));
    EXPECT_FALSE(no_proxy_matches("10.1.2.3", "10.0.0.0/99"));
}

TEST(ChooseProxy, TheFlagWinsOverTheEnvironment) {
    ProxyEnvironment env{"socks5://env:1080", std::nullopt};
    auto choice = choose_proxy("target.test", "http://flag:3128", std::nullopt, env);
    ASSERT_TRUE(choice.proxy);
    EXPECT_EQ(*choice.proxy, "http://flag:3128");
    EXPECT_EQ(choice.source, "--proxy");
    choice = choose_proxy("target.test", std::nullopt, std::nullopt, env);
    ASSERT_TRUE(choice.proxy);
    EXPECT_EQ(*choice.proxy, "socks5://env:1080");
    EXPECT_EQ(choice.source, "ALL_PROXY");
}

TEST(ChooseProxy, AnEmptyFlagMeansNoProxyAtAll) {
    ProxyEnvironment env{"socks5://env:1080", std::nullopt};
    EXPECT_FALSE(choose_proxy("target.test", "", std::nullopt, env).proxy);
    EXPECT_FALSE(choose_proxy("target.test", std::nullopt, std::nullopt, {}).proxy);
}

TEST(ChooseProxy, NoProxyAppliesToTheFlagAndTheEnvironment) {
    ProxyEnvironment env{"socks5://env:1080", "internal.test"};
    EXPECT_FALSE(choose_proxy("db.internal.test", std::nullopt, std::nullopt, env).proxy);
    EXPECT_FALSE(choose_proxy("db.internal.test", "http://flag:1", std::nullopt, env).proxy);
    EXPECT_TRUE(choose_proxy("db.other.test", std::nullopt, std::nullopt, env).proxy);
}

TEST(ChooseProxy, NoproxyFlagReplacesTheEnvironmentsList) {
    ProxyEnvironment env{"socks5://env:1080", "internal.test"};
    // --noproxy '' proxies every host, even one NO_PROXY names.
    EXPECT_TRUE(choose_proxy("db.internal.test", std::nullopt, "", env).proxy);
    EXPECT_FALSE(choose_proxy("db.other.test", std::nullopt, "other.test", env).proxy);
    EXPECT_FALSE(choose_proxy("db.other.test", std::nullopt, "*", env).proxy);
}

TEST(ConnectProxyScheme, Socks5AndHttpOnly) {
    for (const char* ok : {"socks5://h:1", "SOCKS5H://h:1", "http://u:p@h:1", "h:3128"})
        EXPECT_TRUE(nettool::check_connect_proxy_scheme(ok, "--proxy")) << ok;
    for (const char* bad : {"socks4://h:1", "https://h:1", "ftp://h:1"}) {
        auto checked = nettool::check_connect_proxy_scheme(bad, "--proxy");
        ASSERT_FALSE(checked) << bad;
        EXPECT_EQ(checked.error().kind, nettool::ErrorKind::usage);
        EXPECT_NE(checked.error().message.find("--proxy"), std::string::npos);
    }
}
