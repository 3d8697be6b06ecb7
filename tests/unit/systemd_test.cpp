// Socket activation and readiness: sockets of this test process moved to a free descriptor
// range and adopted as systemd would pass them; READY=1 sent to a datagram socket of the test.
#include "scratch_dir.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nettool/systemd.hpp>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

using namespace nettool;

namespace {

// Far above anything the test process has open: where the "passed" sockets go.
constexpr int k_first = 300;

// Moves fd to k_first + index (closing the original); the adopted Listener owns it afterwards.
void place(UniqueFd fd, int index) {
    ASSERT_TRUE(fd);
    ASSERT_EQ(::dup2(fd.get(), k_first + index), k_first + index);
}

void close_range_left(int count) {
    for (int i = 0; i < count; ++i)
        ::close(k_first + i);
}

UniqueFd tcp_listener(bool listening = true) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
    if (listening) {
        EXPECT_EQ(::listen(fd.get(), 4), 0);
    }
    return fd;
}

UniqueFd udp_socket() {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
    return fd;
}

sockaddr_un unix_address(const std::string& name, socklen_t& length) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, name.data(), name.size());
    if (name[0] == '@') un.sun_path[0] = '\0';
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                    (name[0] == '@' ? 0 : 1));
    return un;
}

UniqueFd unix_socket(int type, const std::string& name) {
    UniqueFd fd(::socket(AF_UNIX, type, 0));
    socklen_t length = 0;
    const sockaddr_un un = unix_address(name, length);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&un), length), 0);
    if (type == SOCK_STREAM) {
        EXPECT_EQ(::listen(fd.get(), 4), 0);
    }
    return fd;
}

ActivationEnvironment for_me(int count, std::optional<std::string> names = std::nullopt) {
    return {std::to_string(::getpid()), std::to_string(count), std::move(names)};
}

} // namespace

TEST(SocketActivation, AdoptsTcpAndUnixListenersWithTheirNames) {
    test::ScratchDir dir;
    place(tcp_listener(), 0);
    place(unix_socket(SOCK_STREAM, dir / "a.sock"), 1);
    auto sockets = sockets_from(for_me(2, "web:local"), ::getpid(), k_first);
    ASSERT_TRUE(sockets) << sockets.error().message;
    ASSERT_TRUE(*sockets);
    const auto& passed = **sockets;
    ASSERT_EQ(passed.listeners.size(), 2U);
    EXPECT_EQ(passed.listeners[0].transport(), Transport::tcp);
    EXPECT_EQ(passed.listeners[0].local().host(), "127.0.0.1");
    EXPECT_NE(passed.listeners[0].local().port(), 0);
    EXPECT_EQ(passed.listeners[1].transport(), Transport::unix_stream);
    EXPECT_EQ(passed.listeners[1].local().host(), dir / "a.sock");
    EXPECT_EQ(passed.names, (std::vector<std::string>{"web", "local"}));
    for (const auto& l : passed.listeners) {
        EXPECT_EQ(l.fd(), &l == &passed.listeners[0] ? k_first : k_first + 1);
        EXPECT_NE(::fcntl(l.fd(), F_GETFD) & FD_CLOEXEC, 0); // children do not inherit it
        EXPECT_NE(::fcntl(l.fd(), F_GETFL) & O_NONBLOCK, 0); // the loop never blocks on it
    }
}

TEST(SocketActivation, AdoptsUdp) {
    place(udp_socket(), 0);
    auto sockets = sockets_from(for_me(1), ::getpid(), k_first);
    ASSERT_TRUE(sockets && *sockets);
    EXPECT_EQ((*sockets)->listeners.at(0).transport(), Transport::udp);
    EXPECT_EQ((*sockets)->names, std::vector<std::string>{""});
}

TEST(SocketActivation, NotForThisProcessOrNoneIsNotActivated) {
    place(tcp_listener(), 0);
    const std::string other = std::to_string(::getpid() + 1);
    for (const ActivationEnvironment& env :
         {ActivationEnvironment{other, "1", std::nullopt},
          ActivationEnvironment{std::nullopt, "1", std::nullopt},
          ActivationEnvironment{std::to_string(::getpid()), std::nullopt, std::nullopt},
          ActivationEnvironment{std::to_string(::getpid()), "0", std::nullopt},
          ActivationEnvironment{"x", "1", std::nullopt}}) {
        auto sockets = sockets_from(env, ::getpid(), k_first);
        ASSERT_TRUE(sockets);
        EXPECT_FALSE(*sockets);
    }
    // Not adopted: still open, still ours to close.
    EXPECT_EQ(::fcntl(k_first, F_GETFD), 0);
    close_range_left(1);
}

TEST(SocketActivation, RefusesWhatServeCannotServe) {
    test::ScratchDir dir;
    struct Case {
        const char* what;
        std::function<UniqueFd()> make;
        const char* words;
    };
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    UniqueFd pipe_write(pipe_fds[1]);
    const std::vector<Case> cases = {
        {"a pipe", [&] { return UniqueFd(pipe_fds[0]); }, "is not a socket"},
        {"a stream socket that does not listen", [] { return tcp_listener(false); }, "Accept=no"},
        {"a Unix datagram socket", [&] { return unix_socket(SOCK_DGRAM, dir / "d.sock"); },
         "ListenDatagram="},
    };
    for (const auto& c : cases) {
        place(c.make(), 0);
        auto sockets = sockets_from(for_me(1), ::getpid(), k_first);
        ASSERT_FALSE(sockets) << c.what;
        EXPECT_EQ(sockets.error().kind, ErrorKind::usage) << c.what;
        EXPECT_NE(sockets.error().message.find(c.words), std::string::npos)
            << c.what << ": " << sockets.error().message;
        EXPECT_NE(sockets.error().message.find("descriptor 300"), std::string::npos);
        close_range_left(1);
    }
}

TEST(SocketActivation, RefusesStreamAndDatagramTogetherAndABadCount) {
    place(tcp_listener(), 0);
    place(udp_socket(), 1);
    auto mixed = sockets_from(for_me(2), ::getpid(), k_first);
    ASSERT_FALSE(mixed);
    EXPECT_NE(mixed.error().message.find("together"), std::string::npos);
    close_range_left(2);
    for (const char* count : {"-1", "two", "99999"}) {
        auto bad =
            sockets_from({std::to_string(::getpid()), count, std::nullopt}, ::getpid(), k_first);
        ASSERT_FALSE(bad) << count;
        EXPECT_EQ(bad.error().kind, ErrorKind::usage);
        EXPECT_NE(bad.error().message.find("LISTEN_FDS"), std::string::npos);
    }
}

TEST(SocketActivation, NamesThatDoNotPairUpAreDropped) {
    place(tcp_listener(), 0);
    auto sockets = sockets_from(for_me(1, "a:b"), ::getpid(), k_first);
    ASSERT_TRUE(sockets && *sockets);
    EXPECT_EQ((*sockets)->names, std::vector<std::string>{""});
}

TEST(Notify, SendsTheStateToAPathAndToAnAbstractName) {
    test::ScratchDir dir;
    const std::string abstract = "@nettool-notify-test-" + std::to_string(::getpid());
    for (const std::string& name : {dir / "notify", abstract}) {
        UniqueFd receiver = unix_socket(SOCK_DGRAM, name);
        ASSERT_TRUE(notify_socket_send(name, "READY=1")) << name;
        char buffer[64] = {};
        const ssize_t got = ::recv(receiver.get(), buffer, sizeof buffer, MSG_DONTWAIT);
        EXPECT_EQ(std::string(buffer, got > 0 ? static_cast<std::size_t>(got) : 0), "READY=1");
    }
}

TEST(Notify, BadOrDeadAddressesFailWithASentence) {
    test::ScratchDir dir;
    for (const std::string& name : {std::string("relative"), std::string("@"), dir / "nobody"}) {
        auto sent = notify_socket_send(name, "READY=1");
        ASSERT_FALSE(sent) << name;
        EXPECT_NE(sent.error().message.find("NOTIFY_SOCKET=" + name), std::string::npos)
            << sent.error().message;
    }
}

TEST(Notify, NothingToDoWithoutNotifySocket) {
    const char* saved = std::getenv("NOTIFY_SOCKET");
    const std::string copy = saved ? saved : "";
    ::unsetenv("NOTIFY_SOCKET");
    EXPECT_TRUE(notify_service_manager("READY=1"));
    if (saved) ::setenv("NOTIFY_SOCKET", copy.c_str(), 1);
}
