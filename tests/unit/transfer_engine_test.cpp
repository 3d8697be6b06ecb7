// The libcurl engine against a tiny HTTP/1.1 server on 127.0.0.1 in a thread of this process:
// connection reuse (one engine, and engines sharing a ConnectionShare), sink errors, ranges.
#include <arpa/inet.h>
#include <atomic>
#include <functional>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nettool/http/transfer.hpp>
#include <nettool/unique_fd.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace nettool;
using namespace nettool::http;

namespace {

// Answers every request on every connection with respond(request); keeps connections open.
class LoopbackServer {
  public:
    explicit LoopbackServer(std::function<std::string(const std::string&)> respond)
        : m_respond(std::move(respond)) {
        m_listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(m_listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(m_listener.get(), 16), 0);
        socklen_t length = sizeof addr;
        ::getsockname(m_listener.get(), reinterpret_cast<sockaddr*>(&addr), &length);
        m_port = ntohs(addr.sin_port);
        m_thread = std::thread([this] { serve(); });
    }
    ~LoopbackServer() {
        m_stop = true;
        m_thread.join();
    }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(m_port) + path;
    }
    int connections() const { return m_connections; }
    std::string last_request() {
        std::lock_guard lock(m_mutex);
        return m_last;
    }

  private:
    void serve() {
        std::vector<UniqueFd> clients;
        std::vector<std::string> buffers;
        for (int round = 0; round < 2000 && !m_stop; ++round) { // bounded: 2000 x 5 ms
            std::vector<pollfd> fds{{m_listener.get(), POLLIN, 0}};
            for (auto& c : clients)
                fds.push_back({c.get(), POLLIN, 0});
            if (::poll(fds.data(), fds.size(), 5) <= 0) continue;
            if (fds[0].revents & POLLIN) {
                clients.emplace_back(::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
                buffers.emplace_back();
                ++m_connections;
            }
            for (size_t i = 1; i < fds.size(); ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
                char chunk[4096];
                const ssize_t n = ::read(clients[i - 1].get(), chunk, sizeof chunk);
                if (n <= 0) continue;
                auto& buffer = buffers[i - 1];
                buffer.append(chunk, static_cast<size_t>(n));
                const auto end = buffer.find("\r\n\r\n");
                if (end == std::string::npos) continue;
                const std::string request = buffer.substr(0, end + 4);
                buffer.erase(0, end + 4);
                {
                    std::lock_guard lock(m_mutex);
                    m_last = request;
                }
                const std::string response = m_respond(request);
                EXPECT_EQ(::write(clients[i - 1].get(), response.data(), response.size()),
                          static_cast<ssize_t>(response.size()));
            }
        }
    }

    std::function<std::string(const std::string&)> m_respond;
    UniqueFd m_listener;
    std::uint16_t m_port = 0;
    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_connections{0};
    std::mutex m_mutex;
    std::string m_last;
};

Request to(std::string url) {
    Request request;
    request.url = *parse_url(url);
    return request;
}

std::string hello(const std::string&) {
    return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
}

struct Collect : TransferSink {
    std::string body;
    std::optional<ResponseHead> head;
    std::optional<Error> fail_body;
    Status on_response(const ResponseHead& h) override {
        head = h;
        return {};
    }
    Status on_body(std::span<const char> chunk) override {
        if (fail_body) return tl::unexpected(*fail_body);
        body.append(chunk.data(), chunk.size());
        return {};
    }
};

} // namespace

TEST(TransferEngine, ReusesItsConnection) {
    LoopbackServer server(hello);
    auto engine = make_transfer_engine();
    for (int i = 0; i < 3; ++i) {
        Collect sink;
        auto outcome = engine->perform(to(server.url("/a")), sink);
        ASSERT_TRUE(outcome) << outcome.error().error.message;
        EXPECT_EQ(sink.body, "hello");
        EXPECT_EQ(outcome->head.status, 200);
        EXPECT_EQ(outcome->body_bytes, 5u);
    }
    EXPECT_EQ(server.connections(), 1);
}

TEST(TransferEngine, EnginesSharingConnectionsReuseEachOthers) {
    LoopbackServer server(hello);
    auto share = make_connection_share();
    auto first = make_transfer_engine(share);
    auto second = make_transfer_engine(share);
    Collect a, b;
    ASSERT_TRUE(first->perform(to(server.url("/1")), a));
    ASSERT_TRUE(second->perform(to(server.url("/2")), b));
    EXPECT_EQ(b.body, "hello");
    EXPECT_EQ(server.connections(), 1);
    auto alone = make_transfer_engine();
    Collect c;
    ASSERT_TRUE(alone->perform(to(server.url("/3")), c));
    EXPECT_EQ(server.connections(), 2);
}

TEST(TransferEngine, SinkErrorAbortsWithThatError) {
    LoopbackServer server(hello);
    auto engine = make_transfer_engine();
    Collect sink;
    sink.fail_body = Error{ErrorKind::checksum, "the sink says no"};
    auto outcome = engine->perform(to(server.url("/")), sink);
    ASSERT_FALSE(outcome);
    EXPECT_EQ(outcome.error().cause, FailureCause::sink);
    EXPECT_EQ(outcome.error().error.kind, ErrorKind::checksum);
    EXPECT_EQ(outcome.error().error.message, "the sink says no");
}

TEST(TransferEngine, ResumeSendsRangeAndIfRange) {
    LoopbackServer server([](const std::string& request) -> std::string {
        if (request.find("Range: bytes=3-\r\n") == std::string::npos) return hello(request);
        return "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 3-4/5\r\nContent-Length: "
               "2\r\n\r\nlo";
    });
    auto engine = make_transfer_engine();
    Request request = to(server.url("/r"));
    request.resume_from = 3;
    request.if_range = "\"etag-1\"";
    Collect sink;
    auto outcome = engine->perform(request, sink);
    ASSERT_TRUE(outcome) << outcome.error().error.message;
    EXPECT_TRUE(outcome->head.resumed);
    EXPECT_EQ(outcome->head.status, 206);
    EXPECT_EQ(sink.body, "lo");
    EXPECT_NE(server.last_request().find("If-Range: \"etag-1\"\r\n"), std::string::npos);
}

TEST(TransferEngine, ResumeWithWrongContentRangeIsAProtocolError) {
    LoopbackServer server([](const std::string&) -> std::string {
        return "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/5\r\nContent-Length: "
               "5\r\n\r\nhello";
    });
    auto engine = make_transfer_engine();
    Request request = to(server.url("/r"));
    request.resume_from = 3;
    Collect sink;
    auto outcome = engine->perform(request, sink);
    ASSERT_FALSE(outcome);
    EXPECT_EQ(outcome.error().error.kind, ErrorKind::protocol);
    EXPECT_EQ(sink.body, "");
}

TEST(TransferEngine, ServerIgnoringTheRangeSendsTheWholeBody) {
    LoopbackServer server(hello);
    auto engine = make_transfer_engine();
    Request request = to(server.url("/r"));
    request.resume_from = 3;
    Collect sink;
    auto outcome = engine->perform(request, sink);
    ASSERT_TRUE(outcome);
    EXPECT_FALSE(outcome->head.resumed);
    EXPECT_EQ(sink.body, "hello");
}

TEST(TransferEngine, ErrorStatusBodyIsWithheldAndRetryAfterKept) {
    LoopbackServer server([](const std::string&) -> std::string {
        return "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: "
               "4\r\n\r\nbusy";
    });
    auto engine = make_transfer_engine();
    Collect sink;
    auto outcome = engine->perform(to(server.url("/busy")), sink);
    ASSERT_FALSE(outcome);
    EXPECT_EQ(outcome.error().cause, FailureCause::http_status);
    EXPECT_EQ(outcome.error().http_status, 503);
    EXPECT_EQ(outcome.error().retry_after, "7");
    EXPECT_EQ(outcome.error().error.message,
              "HTTP 503 Service Unavailable: " + server.url("/busy"));
    ASSERT_TRUE(sink.head);
    EXPECT_EQ(sink.head->status, 503);
    EXPECT_EQ(sink.body, "");
}
