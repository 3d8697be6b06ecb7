// The one relay (core/src/relay.hpp): half-close per direction, the reset rule, the output's
// end, the terminal rule, a reader that leaves. Real sockets and pipes on one EventLoop.
#include "relay.hpp"
#include "tcp_pair.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

using namespace nettool;
using namespace std::chrono_literals;
using nettool::testing::TcpPair;

namespace {

struct Pipe {
    UniqueFd read_end, write_end;
    Pipe() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        read_end.reset(fds[0]);
        write_end.reset(fds[1]);
    }
};

// Relay settings for `socket` <-> (input pipe, output pipe), as connect makes them: spliced
// both ways (pipes and a socket), or copied through Pumps.
Relay::Settings settings_for(int socket, int input, int output,
                             Splice splice = Splice::where_possible) {
    Relay::Settings s;
    s.peer_fd = socket;
    s.peer_name = "the peer";
    Pump::Options from;
    from.at_end = Pump::Options::AtEnd::nothing;
    auto channel = open_channel(socket, output, from, splice);
    EXPECT_TRUE(channel);
    EXPECT_EQ((*channel)->spliced(), splice == Splice::where_possible);
    s.from_peer = std::move(*channel);
    if (input >= 0) {
        auto to = open_channel(input, socket, Pump::Options{}, splice);
        EXPECT_TRUE(to);
        s.to_peer = std::move(*to);
    }
    return s;
}

constexpr Splice k_both[] = {Splice::where_possible, Splice::never};

// Runs the loop until `until` holds, bounded in turns and time.
void run_until(EventLoop& loop, const std::function<bool()>& until) {
    const auto end = std::chrono::steady_clock::now() + 10s;
    for (int i = 0; i < 100000 && !until() && std::chrono::steady_clock::now() < end; ++i)
        ASSERT_TRUE(loop.run_once(100ms));
    ASSERT_TRUE(until());
}

// Reads what is there; true at end-of-file.
bool drain(int fd, std::string& into) {
    char buffer[65536];
    while (true) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
            into.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        return n == 0;
    }
}

std::string recv_some(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return "(nothing)";
    char buffer[256];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    return n >= 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "(error)";
}

} // namespace

TEST(Relay, PeerFinEndsTheOutputAtOnceWhileTheInputKeepsFlowing) {
    TcpPair tcp;
    Pipe in, out;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    Relay relay(*loop, settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get()),
                nullptr);
    relay.start();
    ASSERT_EQ(::send(tcp.peer.get(), "hello", 5, 0), 5);
    ::shutdown(tcp.peer.get(), SHUT_WR);
    std::string output;
    bool eof = false;
    run_until(*loop, [&] { return eof = eof || drain(out.read_end.get(), output); });
    EXPECT_EQ(output, "hello");
    EXPECT_TRUE(relay.peer_ended());
    EXPECT_FALSE(relay.done()); // the input has not ended: still sending

    ASSERT_EQ(::write(in.write_end.get(), "more", 4), 4);
    in.write_end.reset();
    run_until(*loop, [&] { return relay.done(); });
    EXPECT_TRUE(relay.result());
    EXPECT_EQ(recv_some(tcp.peer.get()), "more");
    EXPECT_EQ(recv_some(tcp.peer.get()), ""); // our FIN followed the input's end
}

TEST(Relay, InputEndIsAHalfCloseAndThePeersDataStillArrives) {
    TcpPair tcp;
    Pipe in, out;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    Relay relay(*loop, settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get()),
                nullptr);
    relay.start();
    in.write_end.reset();
    run_until(*loop, [&] { return !relay.sending(); });
    EXPECT_EQ(recv_some(tcp.peer.get()), ""); // FIN at once
    ASSERT_EQ(::send(tcp.peer.get(), "answer", 6, 0), 6);
    tcp.peer.reset();
    std::string output;
    run_until(*loop, [&] { return relay.done(); });
    drain(out.read_end.get(), output);
    EXPECT_EQ(output, "answer");
    EXPECT_TRUE(relay.result());
}

TEST(Relay, ResetBeforeThePeersFinFailsWithItsErrnoAfterDeliveringWhatCame) {
    for (const Splice splice : k_both) {
        TcpPair tcp;
        Pipe in, out;
        auto loop = EventLoop::create();
        ASSERT_TRUE(loop);
        Relay relay(*loop,
                    settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get(), splice),
                    nullptr);
        relay.start();
        ASSERT_EQ(::send(tcp.peer.get(), "partial", 7, 0), 7);
        std::string output;
        run_until(*loop, [&] {
            drain(out.read_end.get(), output);
            return output.size() == 7;
        });
        tcp.reset_peer();
        run_until(*loop, [&] { return relay.done(); });
        ASSERT_FALSE(relay.result());
        EXPECT_EQ(relay.result().error().kind, ErrorKind::network);
        EXPECT_EQ(relay.result().error().sys_errno, ECONNRESET);
        EXPECT_NE(relay.result().error().message.find("reset by peer"), std::string::npos);
        EXPECT_EQ(output, "partial");
        EXPECT_TRUE(drain(out.read_end.get(), output)); // the output was let go
    }
}

TEST(Relay, AResetWhoseErrorTheKernelGaveAwayIsStillAResetBeforeTheFin) {
    // Linux's splice into a socket can take a reset's error and report the bytes it moved;
    // reads then see a plain end of stream. Taking the error here stands for that.
    TcpPair tcp;
    Pipe in, out;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    Relay relay(*loop, settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get()),
                nullptr);
    ASSERT_EQ(::send(tcp.peer.get(), "partial", 7, 0), 7);
    tcp.reset_peer();
    pollfd p{tcp.ours.get(), POLLRDHUP, 0};
    for (int i = 0; i < 100 && (p.revents & POLLHUP) == 0; ++i)
        ASSERT_GE(::poll(&p, 1, 100), 0);
    int err = 0;
    socklen_t length = sizeof err;
    ASSERT_EQ(::getsockopt(tcp.ours.get(), SOL_SOCKET, SO_ERROR, &err, &length), 0);
    ASSERT_EQ(err, ECONNRESET);
    relay.start();
    std::string output;
    run_until(*loop, [&] { return relay.done(); });
    drain(out.read_end.get(), output);
    EXPECT_EQ(output, "partial");
    ASSERT_FALSE(relay.result());
    EXPECT_EQ(relay.result().error().sys_errno, ECONNRESET);
    EXPECT_FALSE(relay.peer_ended());
}

TEST(Relay, ResetAfterThePeersFinEndsTheSendingQuietly) {
    for (const Splice splice : k_both) {
        TcpPair tcp;
        Pipe in, out; // the input stays open and silent: only the reset can end the relay
        auto loop = EventLoop::create();
        ASSERT_TRUE(loop);
        Relay relay(*loop,
                    settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get(), splice),
                    nullptr);
        relay.start();
        ASSERT_EQ(::send(tcp.peer.get(), "reply", 5, 0), 5);
        ::shutdown(tcp.peer.get(), SHUT_WR);
        std::string output;
        bool eof = false;
        run_until(*loop, [&] { return eof = eof || drain(out.read_end.get(), output); });
        tcp.reset_peer();
        run_until(*loop, [&] { return relay.done(); });
        EXPECT_TRUE(relay.result()) << relay.result().error().message;
        EXPECT_EQ(output, "reply");
    }
}

TEST(Relay, ResetWhileSendingBeforeThePeersFinFails) {
    for (const Splice splice : k_both) {
        std::signal(SIGPIPE, SIG_IGN);
        TcpPair tcp;
        Pipe in, out;
        auto loop = EventLoop::create();
        ASSERT_TRUE(loop);
        Relay relay(*loop,
                    settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get(), splice),
                    nullptr);
        relay.start();
        tcp.reset_peer();
        const std::string chunk(4096, 'x');
        run_until(*loop, [&] {
            (void)::write(in.write_end.get(), chunk.data(), chunk.size()); // keep sending
            return relay.done();
        });
        ASSERT_FALSE(relay.result());
        EXPECT_EQ(relay.result().error().sys_errno, ECONNRESET);
    }
}

TEST(Relay, PeerEndEndsTheRelayWhenAskedAsForATerminal) {
    TcpPair tcp;
    Pipe in, out;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto settings = settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get());
    settings.peer_end_ends_relay = true;
    Relay relay(*loop, std::move(settings), nullptr);
    relay.start();
    ::shutdown(tcp.peer.get(), SHUT_WR);
    run_until(*loop, [&] { return relay.done(); }); // without the input's end
    EXPECT_TRUE(relay.result());
}

TEST(Relay, AnOutputWhoseReaderLeftIsALocalFailure) {
    std::signal(SIGPIPE, SIG_IGN);
    TcpPair tcp;
    Pipe in, out;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto settings = settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get());
    Relay relay(*loop, std::move(settings), nullptr);
    relay.start();
    out.read_end.reset();
    ASSERT_EQ(::send(tcp.peer.get(), "lost", 4, 0), 4);
    run_until(*loop, [&] { return relay.done(); });
    ASSERT_FALSE(relay.result());
    EXPECT_EQ(relay.result().error().kind, ErrorKind::file_io);
    EXPECT_EQ(relay.result().error().sys_errno, EPIPE);
}

TEST(Relay, AReaderMayLeaveQuietlyAndTheOtherDirectionGoesOn) {
    std::signal(SIGPIPE, SIG_IGN);
    TcpPair tcp;
    Pipe in, out; // like --exec: out is the child's stdin, in its stdout
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto settings = settings_for(tcp.ours.get(), in.read_end.get(), out.write_end.get());
    settings.output_may_leave = true;
    settings.output_at_end = Relay::OutputAtEnd::close;
    settings.owned_output = std::move(out.write_end);
    Relay relay(*loop, std::move(settings), nullptr);
    relay.start();
    out.read_end.reset(); // the child closed its stdin, and says something after that
    ASSERT_EQ(::write(in.write_end.get(), "reply", 5), 5);
    in.write_end.reset();
    run_until(*loop, [&] { return relay.done(); }); // though the peer never sent a FIN
    EXPECT_TRUE(relay.result());
    EXPECT_EQ(recv_some(tcp.peer.get()), "reply");
}

TEST(Relay, KeepLeavesTheOutputOpenForTheNextClient) {
    TcpPair tcp;
    Pipe out;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto settings = settings_for(tcp.ours.get(), -1, out.write_end.get());
    settings.output_at_end = Relay::OutputAtEnd::keep;
    Relay relay(*loop, std::move(settings), nullptr);
    relay.start();
    ASSERT_EQ(::send(tcp.peer.get(), "one", 3, 0), 3);
    ::shutdown(tcp.peer.get(), SHUT_WR);
    run_until(*loop, [&] { return relay.done(); });
    std::string output;
    EXPECT_FALSE(drain(out.read_end.get(), output)); // no end-of-file: still open
    EXPECT_EQ(output, "one");
}

TEST(Relay, EveryDirectionSplicesWhereBothEndsAllowIt) {
    TcpPair tcp, other;
    Pipe pipe;
    char name[] = "/tmp/nettool-relay-XXXXXX";
    UniqueFd file(::mkstemp(name));
    ::unlink(name);
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const int sock = tcp.ours.get();
    const auto spliced = [](int source, int sink, Pump::Options o = {},
                            Splice splice = Splice::where_possible) {
        auto c = open_channel(source, sink, std::move(o), splice);
        EXPECT_TRUE(c);
        return c && (*c)->spliced();
    };
    EXPECT_TRUE(spliced(sock, pipe.write_end.get())); // to a pipe reader
    EXPECT_TRUE(spliced(pipe.read_end.get(), sock));  // from a pipe
    EXPECT_TRUE(spliced(sock, file.get()));           // into a file
    EXPECT_TRUE(spliced(file.get(), sock));           // from a file
    EXPECT_TRUE(spliced(sock, null.get()));           // to /dev/null
    EXPECT_TRUE(spliced(sock, other.ours.get()));     // a forwarder, both ways
    EXPECT_TRUE(spliced(other.ours.get(), sock));
    EXPECT_FALSE(spliced(udp.get(), pipe.write_end.get())); // datagrams
    EXPECT_FALSE(spliced(null.get(), sock));                // /dev/null reads nothing
    EXPECT_FALSE(spliced(sock, sock, {}, Splice::never));   // echo
    Pump::Options limited;
    limited.limit = 10; // --max-bytes counts in user space
    EXPECT_FALSE(spliced(sock, pipe.write_end.get(), limited));
    Pump::Options observed;
    observed.observe = [](std::span<const char>) {}; // --hexdump
    EXPECT_FALSE(spliced(pipe.read_end.get(), sock, observed));
}

// A forwarder's second socket is both the output and the input: when the client's data has
// ended, that socket must still be watched for the target's reply (and the other way round).
TEST(Relay, ASocketThatIsBothOutputAndInputStaysWatchedUntilBothAreDone) {
    for (const bool client_first : {true, false}) {
        TcpPair client, target;
        auto loop = EventLoop::create();
        ASSERT_TRUE(loop);
        Relay::Settings s;
        s.peer_fd = client.ours.get();
        s.peer_name = "the client";
        s.from_peer = std::move(*open_channel(client.ours.get(), target.ours.get(), {}));
        s.to_peer = std::move(*open_channel(target.ours.get(), client.ours.get(), {}));
        s.output_at_end = Relay::OutputAtEnd::channel;
        Relay relay(*loop, std::move(s), nullptr);
        relay.start();
        TcpPair& first = client_first ? client : target;
        TcpPair& second = client_first ? target : client;
        ASSERT_EQ(::send(first.peer.get(), "ask", 3, 0), 3);
        ::shutdown(first.peer.get(), SHUT_WR);
        // The second side answers only once the first side's end has reached it.
        std::string got;
        ::fcntl(second.peer.get(), F_SETFL, O_NONBLOCK);
        run_until(*loop, [&] { return drain(second.peer.get(), got); });
        EXPECT_EQ(got, "ask") << client_first;
        ::fcntl(second.peer.get(), F_SETFL, 0);
        ASSERT_EQ(::send(second.peer.get(), "answer", 6, 0), 6);
        ::shutdown(second.peer.get(), SHUT_WR);
        run_until(*loop, [&] { return relay.done(); });
        EXPECT_TRUE(relay.result());
        EXPECT_EQ(recv_some(first.peer.get()), "answer") << client_first;
        EXPECT_EQ(recv_some(first.peer.get()), "") << client_first;
    }
}
