#pragma once
// A connected TCP pair on loopback (a reset needs TCP: Unix sockets have no RST) and the
// ways to end one side, for the pump and relay tests.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nettool/unique_fd.hpp>
#include <sys/socket.h>

namespace nettool::testing {

struct TcpPair {
    UniqueFd peer; // the far side, blocking, driven by the test
    UniqueFd ours; // non-blocking, given to the code under test

    TcpPair() {
        UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
        EXPECT_EQ(::listen(listener.get(), 1), 0);
        EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
        peer.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        EXPECT_EQ(::connect(peer.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
        ours.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        EXPECT_TRUE(ours);
    }

    // Closes the far side with SO_LINGER 0: the kernel sends RST instead of FIN.
    void reset_peer() {
        const linger hard{1, 0};
        ::setsockopt(peer.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        peer.reset();
    }
};

} // namespace nettool::testing
