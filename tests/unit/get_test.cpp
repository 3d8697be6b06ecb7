// nettool::get() against the scripted FakeTransferEngine: what reaches the output descriptor,
// the error-status rule, retries only before the first output byte, a closed reader.
#include "fake_transfer_engine.hpp"

#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nettool/get.hpp>
#include <nettool/unique_fd.hpp>
#include <unistd.h>

using namespace nettool;
using nettool::test::FakeTransferEngine;

namespace {

struct Pipe {
    UniqueFd read_end, write_end;
    Pipe() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        read_end.reset(fds[0]);
        write_end.reset(fds[1]);
        ::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); // room for the test bodies without a reader
    }
    std::string drain() {
        write_end.reset();
        std::string out;
        char buffer[65536];
        for (ssize_t n; (n = ::read(read_end.get(), buffer, sizeof buffer)) > 0;)
            out.append(buffer, static_cast<size_t>(n));
        return out;
    }
};

struct Recorder : GetObserver {
    int retries = 0;
    int redirects = 0;
    bool closed = false;
    void on_retry(int, int, std::chrono::milliseconds, const Error&) override { ++retries; }
    void on_redirect(const http::ResponseHead&) override { ++redirects; }
    void on_output_closed() override { closed = true; }
};

GetRequest request_to(int fd) {
    GetRequest request;
    request.request.url = *http::parse_url("http://example.test/x");
    request.output_fd = fd;
    return request;
}

FakeTransferEngine::Step status_step(int status, std::string reason, std::string body,
                                     std::optional<std::string> retry_after = {}) {
    auto step = FakeTransferEngine::ok(std::move(body), 4096, status, std::move(reason));
    if (retry_after) step.head.headers.push_back({"Retry-After", *retry_after});
    return step;
}

} // namespace

TEST(Get, StreamsTheBodyInOrder) {
    Pipe pipe;
    FakeTransferEngine engine;
    std::string body(100'000, '\0');
    for (size_t i = 0; i < body.size(); ++i)
        body[i] = static_cast<char>(i * 7);
    engine.script(FakeTransferEngine::ok(body, 1000));
    Recorder observer;
    ASSERT_TRUE(get(request_to(pipe.write_end.get()), engine, observer));
    EXPECT_EQ(pipe.drain(), body);
    ASSERT_EQ(engine.requests().size(), 1u);
    EXPECT_EQ(engine.requests()[0].url.text, "http://example.test/x");
}

TEST(Get, IncludePrintsEveryHeadThenTheBody) {
    Pipe pipe;
    FakeTransferEngine engine;
    auto step = FakeTransferEngine::ok("body");
    http::ResponseHead redirect;
    redirect.status = 302;
    redirect.raw = "HTTP/1.1 302 Found\r\nLocation: /y\r\n\r\n";
    step.intermediate.push_back(redirect);
    engine.script(step);
    auto request = request_to(pipe.write_end.get());
    request.include_headers = true;
    Recorder observer;
    ASSERT_TRUE(get(request, engine, observer));
    EXPECT_EQ(pipe.drain(), "HTTP/1.1 302 Found\r\nLocation: /y\r\n\r\nHTTP/1.1 200 "
                            "OK\r\nContent-Length: 4\r\n\r\nbody");
    EXPECT_EQ(observer.redirects, 1);
}

TEST(Get, HeadOnlyPrintsTheHead) {
    Pipe pipe;
    FakeTransferEngine engine;
    engine.script(FakeTransferEngine::ok("not sent"));
    auto request = request_to(pipe.write_end.get());
    request.request.head_only = true;
    Recorder observer;
    ASSERT_TRUE(get(request, engine, observer));
    EXPECT_EQ(pipe.drain(), "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n");
}

TEST(Get, ErrorStatusWritesNothingButDumpsHeaders) {
    Pipe pipe;
    FakeTransferEngine engine;
    engine.script(status_step(404, "Not Found", "error page"));
    const auto dump =
        std::filesystem::temp_directory_path() / ("get_test_dump_" + std::to_string(::getpid()));
    auto request = request_to(pipe.write_end.get());
    request.include_headers = true;
    request.dump_header_path = dump.string();
    Recorder observer;
    auto status = get(request, engine, observer);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind, ErrorKind::server);
    EXPECT_EQ(status.error().message, "HTTP 404 Not Found: http://example.test/x");
    EXPECT_EQ(pipe.drain(), "");
    std::ifstream in(dump);
    std::string first;
    std::getline(in, first);
    EXPECT_EQ(first, "HTTP/1.1 404 Not Found\r");
    std::filesystem::remove(dump);
}

TEST(Get, IgnoreStatusPrintsTheErrorBody) {
    Pipe pipe;
    FakeTransferEngine engine;
    engine.script(status_step(500, "Internal Server Error", "trace"));
    auto request = request_to(pipe.write_end.get());
    request.request.options.ignore_status = true;
    Recorder observer;
    ASSERT_TRUE(get(request, engine, observer));
    EXPECT_EQ(pipe.drain(), "trace");
}

TEST(Get, RetriesTransientFailuresBeforeAnyOutput) {
    Pipe pipe;
    FakeTransferEngine engine;
    engine.script(status_step(503, "Service Unavailable", "busy", "0"));
    engine.script(status_step(429, "Too Many Requests", "slow down", "0"));
    engine.script(FakeTransferEngine::ok("done"));
    auto request = request_to(pipe.write_end.get());
    request.retries = 2;
    Recorder observer;
    ASSERT_TRUE(get(request, engine, observer));
    EXPECT_EQ(observer.retries, 2);
    EXPECT_EQ(engine.requests().size(), 3u);
    EXPECT_EQ(pipe.drain(), "done");
}

TEST(Get, GivesUpWhenRetriesAreUsedUp) {
    Pipe pipe;
    FakeTransferEngine engine;
    engine.script(status_step(503, "Service Unavailable", "", "0"));
    engine.script(status_step(503, "Service Unavailable", "", "0"));
    auto request = request_to(pipe.write_end.get());
    request.retries = 1;
    Recorder observer;
    auto status = get(request, engine, observer);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind, ErrorKind::server);
    EXPECT_EQ(engine.requests().size(), 2u);
}

TEST(Get, NeverRetriesOnceOutputWasWritten) {
    Pipe pipe;
    FakeTransferEngine engine;
    auto step = FakeTransferEngine::ok(std::string(3 * 4096, 'a'));
    http::TransferError reset;
    reset.error = Error{ErrorKind::network, "http://example.test/x: the connection failed mid-way"};
    reset.cause = http::FailureCause::reset;
    step.failure = reset;
    step.fail_after_chunks = 1;
    engine.script(step);
    engine.script(FakeTransferEngine::ok("must not be fetched"));
    auto request = request_to(pipe.write_end.get());
    request.retries = 3;
    Recorder observer;
    auto status = get(request, engine, observer);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind, ErrorKind::network);
    EXPECT_EQ(engine.requests().size(), 1u);
    EXPECT_EQ(observer.retries, 0);
    EXPECT_EQ(pipe.drain(), std::string(4096, 'a'));
}

TEST(Get, NotTransientIsNotRetried) {
    FakeTransferEngine engine;
    engine.script(
        FakeTransferEngine::failing(ErrorKind::tls, http::FailureCause::tls, "bad certificate"));
    Pipe pipe;
    auto request = request_to(pipe.write_end.get());
    request.retries = 3;
    Recorder observer;
    auto status = get(request, engine, observer);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind, ErrorKind::tls);
    EXPECT_EQ(engine.requests().size(), 1u);
}

TEST(Get, ClosedReaderStopsQuietly) {
    std::signal(SIGPIPE, SIG_IGN);
    Pipe pipe;
    pipe.read_end.reset();
    FakeTransferEngine engine;
    engine.script(FakeTransferEngine::ok(std::string(10'000, 'z')));
    Recorder observer;
    EXPECT_TRUE(get(request_to(pipe.write_end.get()), engine, observer));
    EXPECT_TRUE(observer.closed);
}

TEST(Get, UnwritableOutputIsAFileError) {
    UniqueFd read_only(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    FakeTransferEngine engine;
    engine.script(FakeTransferEngine::ok("data"));
    Recorder observer;
    auto status = get(request_to(read_only.get()), engine, observer);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind, ErrorKind::file_io);
    EXPECT_NE(status.error().message.find("write to standard output"), std::string::npos);
}
