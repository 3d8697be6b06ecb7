#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nettool/listener.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace nettool;

TEST(Listener, LocalhostPortZeroGetsOnePortOnBothLoopbacks) {
    auto ep = parse_endpoint("0", Transport::tcp, PortRule::allow_zero);
    ASSERT_TRUE(ep);
    auto listeners = open_listeners(*ep, {});
    ASSERT_TRUE(listeners) << listeners.error().message;
    ASSERT_GE(listeners->size(), 1u);
    EXPECT_EQ((*listeners)[0].local().host(), "127.0.0.1");
    const auto port = (*listeners)[0].local().port();
    EXPECT_NE(port, 0);
    for (const auto& l : *listeners)
        EXPECT_EQ(l.local().port(), port);
    if (listeners->size() == 2) {
        EXPECT_EQ((*listeners)[1].local().host(), "::1");
    }
}

TEST(Listener, SetsReuseAddrAndHonoursReusePort) {
    auto ep = parse_endpoint("127.0.0.1:0", Transport::tcp, PortRule::allow_zero);
    ASSERT_TRUE(ep);
    auto listeners = open_listeners(*ep, ListenOptions{16, true});
    ASSERT_TRUE(listeners);
    int value = 0;
    socklen_t len = sizeof value;
    ASSERT_EQ(::getsockopt((*listeners)[0].fd(), SOL_SOCKET, SO_REUSEADDR, &value, &len), 0);
    EXPECT_EQ(value, 1);
    ASSERT_EQ(::getsockopt((*listeners)[0].fd(), SOL_SOCKET, SO_REUSEPORT, &value, &len), 0);
    EXPECT_EQ(value, 1);
}

TEST(Listener, UdpBindsWithoutListening) {
    auto ep = parse_endpoint("udp://127.0.0.1:0", Transport::tcp, PortRule::allow_zero);
    ASSERT_TRUE(ep);
    auto listeners = open_listeners(*ep, {});
    ASSERT_TRUE(listeners);
    int type = 0;
    socklen_t len = sizeof type;
    ASSERT_EQ(::getsockopt((*listeners)[0].fd(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
    EXPECT_EQ(type, SOCK_DGRAM);
}

TEST(Listener, UnixSocketFileIsRemovedOnCloseAndRegularFileIsKept) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("nettool-listener-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "s.sock";
    {
        auto ep = parse_endpoint("unix:" + path.string());
        ASSERT_TRUE(ep);
        auto listeners = open_listeners(*ep, {});
        ASSERT_TRUE(listeners) << listeners.error().message;
        EXPECT_TRUE(std::filesystem::is_socket(path));
        // A second server on a live socket: refused, the file stays.
        auto again = open_listeners(*ep, {});
        ASSERT_FALSE(again);
        EXPECT_EQ(again.error().kind, ErrorKind::network);
        EXPECT_TRUE(std::filesystem::is_socket(path));
    }
    EXPECT_FALSE(std::filesystem::exists(path));
    const auto file = dir / "plain";
    std::ofstream(file) << "keep me";
    auto ep = parse_endpoint("unix:" + file.string());
    auto refused = open_listeners(*ep, {});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::file_io);
    EXPECT_TRUE(std::filesystem::is_regular_file(file));
    std::filesystem::remove_all(dir);
}
