#include "fake_transfer_engine.hpp"
#include "scratch_dir.hpp"

#include <gtest/gtest.h>
#include <nettool/part_meta.hpp>
#include <nettool/retrieve.hpp>
#include <openssl/sha.h>

using nettool::ErrorKind;
using nettool::RetrieveOptions;
using nettool::test::exists;
using nettool::test::FakeTransferEngine;
using nettool::test::read_file;
using nettool::test::ScratchDir;
using nettool::test::write_file;

namespace {

struct Notes : nettool::RetrieveObserver {
    std::vector<std::string> notes;
    int retries = 0;
    std::uint64_t last_done = 0;
    void on_note(const std::string& message) override { notes.push_back(message); }
    void on_retry(int, int, std::chrono::milliseconds, const nettool::Error&) override {
        ++retries;
    }
    void on_progress(std::uint64_t done, std::optional<std::uint64_t>) override {
        last_done = done;
    }
};

std::string sha256_hex(const std::string& data) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
    std::string hex;
    for (unsigned char c : digest)
        hex += fmt::format("{:02x}", c);
    return hex;
}

std::string body_of(std::size_t size) {
    std::string body;
    for (std::size_t i = 0; i < size; ++i)
        body += static_cast<char>('a' + i % 26);
    return body;
}

RetrieveOptions options_for(const std::string& file, int retries = 3) {
    RetrieveOptions options;
    options.url = *nettool::http::parse_url("http://example.test/file.bin");
    options.file = file;
    options.retry.max_retries = retries;
    options.retry.initial_delay = std::chrono::milliseconds(1);
    options.retry.max_delay = std::chrono::milliseconds(2);
    return options;
}

nettool::http::TransferError reset_failure() {
    nettool::http::TransferError failure;
    failure.error = nettool::Error{ErrorKind::network, "connection reset"};
    failure.cause = nettool::http::FailureCause::reset;
    return failure;
}

FakeTransferEngine::Step with_etag(FakeTransferEngine::Step step, const std::string& etag) {
    step.head.headers.push_back({"ETag", etag});
    return step;
}

// A 206 carrying body[from..].
FakeTransferEngine::Step partial(const std::string& body, std::size_t from,
                                 const std::string& etag) {
    auto step = FakeTransferEngine::ok(body.substr(from), 4096, 206, "Partial Content");
    step.head.resumed = true;
    step.head.headers.push_back({"ETag", etag});
    step.head.headers.push_back(
        {"Content-Range", fmt::format("bytes {}-{}/{}", from, body.size() - 1, body.size())});
    return step;
}

} // namespace

TEST(Retrieve, ARetryResumesWithRangeAndIfRange) {
    ScratchDir dir;
    const std::string body = body_of(20000);
    FakeTransferEngine engine;
    auto first = with_etag(FakeTransferEngine::ok(body, 4096), "\"e1\"");
    first.failure = reset_failure();
    first.fail_after_chunks = 2;
    engine.script(first);
    engine.script(partial(body, 8192, "\"e1\""));
    Notes notes;
    auto result = nettool::retrieve(options_for(dir / "f.bin"), engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    ASSERT_EQ(engine.requests().size(), 2u);
    EXPECT_EQ(engine.requests()[1].resume_from, 8192u);
    EXPECT_EQ(engine.requests()[1].if_range, std::optional<std::string>("\"e1\""));
    EXPECT_EQ(notes.retries, 1);
    EXPECT_EQ(notes.last_done, body.size());
    EXPECT_EQ(read_file(dir / "f.bin"), body);
    EXPECT_EQ(result->sha256, sha256_hex(body));
    EXPECT_EQ(result->bytes, body.size());
}

TEST(Retrieve, AWholeBodyAnswerToARangeRequestStartsOver) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    write_file(path + ".part", "stale bytes of an older version");
    nettool::PartMeta meta;
    meta.url = "http://example.test/file.bin";
    meta.etag = "\"old\"";
    ASSERT_TRUE(nettool::write_part_meta(path + ".part", meta));
    const std::string body = body_of(5000);
    FakeTransferEngine engine;
    engine.script(with_etag(FakeTransferEngine::ok(body), "\"new\""));
    auto options = options_for(path);
    options.resume = true;
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(engine.requests()[0].resume_from, 31u);
    EXPECT_EQ(engine.requests()[0].if_range, std::optional<std::string>("\"old\""));
    EXPECT_EQ(read_file(path), body);
    EXPECT_EQ(result->sha256, sha256_hex(body));
    ASSERT_EQ(notes.notes.size(), 1u);
    EXPECT_NE(notes.notes[0].find("starting over"), std::string::npos);
    EXPECT_FALSE(exists(path + ".part.meta"));
}

TEST(Retrieve, AResumedPartIsHashedWhole) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    const std::string body = body_of(9000);
    write_file(path + ".part", body.substr(0, 3000));
    FakeTransferEngine engine;
    engine.script(partial(body, 3000, "\"e\""));
    auto options = options_for(path);
    options.resume = true;
    options.checksum = nettool::ChecksumSpec{"sha256", sha256_hex(body)};
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_FALSE(engine.requests()[0].if_range); // no sidecar: no validator to send
    EXPECT_EQ(read_file(path), body);
    EXPECT_EQ(result->sha256, sha256_hex(body));
}

TEST(Retrieve, A416ForACompletePartFinishesIt) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    const std::string body = body_of(100);
    write_file(path + ".part", body);
    nettool::PartMeta meta;
    meta.url = "http://example.test/file.bin";
    meta.etag = "\"e\"";
    meta.content_length = body.size();
    ASSERT_TRUE(nettool::write_part_meta(path + ".part", meta));
    FakeTransferEngine engine;
    auto step = FakeTransferEngine::ok("", 4096, 416, "Range Not Satisfiable");
    engine.script(step);
    auto options = options_for(path);
    options.resume = true;
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(read_file(path), body);
    EXPECT_EQ(engine.requests().size(), 1u);
}

TEST(Retrieve, AChecksumMismatchLeavesNoFile) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    FakeTransferEngine engine;
    engine.script(FakeTransferEngine::ok("payload"));
    auto options = options_for(path);
    options.checksum = nettool::ChecksumSpec{"md5", std::string(32, '0')};
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::checksum);
    EXPECT_NE(result.error().message.find("expected md5 000"), std::string::npos)
        << result.error().message;
    EXPECT_FALSE(exists(path));
    EXPECT_FALSE(exists(path + ".part"));
}

TEST(Retrieve, NonTransientFailuresAreNotRetriedAndWriteNothing) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    FakeTransferEngine engine;
    engine.script(FakeTransferEngine::ok("missing", 4096, 404, "Not Found"));
    Notes notes;
    auto result = nettool::retrieve(options_for(path), engine, notes);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::server);
    EXPECT_EQ(engine.requests().size(), 1u);
    EXPECT_EQ(notes.retries, 0);
    EXPECT_FALSE(exists(path));
    EXPECT_FALSE(exists(path + ".part"));
}

TEST(Retrieve, RetriesStopAtTheLimitAndKeepThePart) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    const std::string body = body_of(10000);
    FakeTransferEngine engine;
    for (int i = 0; i < 3; ++i) {
        auto step = i == 0 ? with_etag(FakeTransferEngine::ok(body, 1000), "\"e\"")
                           : partial(body, 1000 * i, "\"e\"");
        if (i > 0) {
            step.chunks.clear();
            step.chunks.push_back(body.substr(1000 * static_cast<std::size_t>(i), 1000));
            step.chunks.push_back("never delivered");
        }
        step.failure = reset_failure();
        step.fail_after_chunks = 1;
        engine.script(step);
    }
    Notes notes;
    auto result = nettool::retrieve(options_for(path, 2), engine, notes);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::network);
    EXPECT_EQ(notes.retries, 2);
    EXPECT_FALSE(exists(path));
    EXPECT_EQ(read_file(path + ".part"), body.substr(0, 3000));
}
