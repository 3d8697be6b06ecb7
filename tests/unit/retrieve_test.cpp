#include "fake_transfer_engine.hpp"
#include "scratch_dir.hpp"

#include <algorithm>
#include <filesystem>
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
    options.sha256 = true;
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

TEST(Retrieve, NoSha256IsComputedUnlessAskedFor) {
    ScratchDir dir;
    const std::string body = body_of(20000);
    FakeTransferEngine engine;
    engine.script(FakeTransferEngine::ok(body));
    Notes notes;
    auto options = options_for(dir / "f.bin");
    options.sha256 = false;
    options.sync = false;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->sha256, "");
    EXPECT_EQ(read_file(dir / "f.bin"), body);
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
    nettool::PartMeta meta;
    meta.url = "http://example.test/file.bin";
    meta.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    meta.content_length = body.size();
    ASSERT_TRUE(nettool::write_part_meta(path + ".part", meta));
    FakeTransferEngine engine;
    engine.script(partial(body, 3000, "\"e\""));
    auto options = options_for(path);
    options.resume = true;
    options.checksum = nettool::ChecksumSpec{"sha256", sha256_hex(body)};
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(engine.requests()[0].resume_from, 3000u);
    EXPECT_EQ(engine.requests()[0].if_range,
              std::optional<std::string>("Wed, 21 Oct 2015 07:28:00 GMT"));
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

namespace {

// A .part of `size` bytes of `body` with a sidecar, as an interrupted retrieve leaves it.
void leave_part(const std::string& path, const std::string& body, std::size_t size,
                const std::string& url, const std::string& etag = "\"e\"") {
    write_file(path + ".part", body.substr(0, size));
    nettool::PartMeta meta;
    meta.url = url;
    meta.etag = etag;
    meta.content_length = body.size();
    ASSERT_TRUE(nettool::write_part_meta(path + ".part", meta));
}

} // namespace

TEST(Retrieve, AsksForTheBytesAsSentNotDecoded) {
    ScratchDir dir;
    FakeTransferEngine engine;
    engine.script(FakeTransferEngine::ok("x"));
    Notes notes;
    ASSERT_TRUE(nettool::retrieve(options_for(dir / "f.bin"), engine, notes));
    EXPECT_FALSE(engine.requests()[0].options.decode_content);
}

// -c over a .part of another URL: refused before any request, the .part untouched; --force
// starts over instead. Never a splice of the two.
TEST(Retrieve, ContinueRefusesAPartOfAnotherUrl) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    const std::string old_body = body_of(5000);
    leave_part(path, old_body, 2000, "http://example.test/other.bin");
    FakeTransferEngine engine;
    auto options = options_for(path);
    options.resume = true;
    Notes notes;
    auto refused = nettool::retrieve(options, engine, notes);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::file_io);
    EXPECT_EQ(refused.error().message,
              path + ".part holds the first 2000 bytes of http://example.test/other.bin, not of "
                     "http://example.test/file.bin; resume it with that URL, or use --force to "
                     "start over");
    EXPECT_TRUE(engine.requests().empty());
    EXPECT_EQ(read_file(path + ".part"), old_body.substr(0, 2000));

    const std::string new_body = std::string(3000, 'N');
    engine.script(with_etag(FakeTransferEngine::ok(new_body), "\"n\""));
    options.force = true;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(engine.requests()[0].resume_from, 0u);
    EXPECT_EQ(read_file(path), new_body);
    ASSERT_FALSE(notes.notes.empty());
    EXPECT_NE(notes.notes.back().find("starting over (--force)"), std::string::npos);
}

TEST(Retrieve, ContinueRefusesAPartOfUnknownOrigin) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    write_file(path + ".part", "bytes from who knows where");
    FakeTransferEngine engine;
    auto options = options_for(path);
    options.resume = true;
    Notes notes;
    auto refused = nettool::retrieve(options, engine, notes);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::file_io);
    EXPECT_NE(refused.error().message.find("has no readable " + path +
                                           ".part.meta saying where its 26 bytes came from"),
              std::string::npos)
        << refused.error().message;
    EXPECT_TRUE(engine.requests().empty());
    // A sidecar that describes another file is no better.
    nettool::PartMeta meta;
    meta.url = "http://example.test/file.bin";
    meta.etag = "\"e\"";
    meta.part = nettool::FileIdentity{1, 2, 3};
    ASSERT_TRUE(nettool::write_part_meta(path + ".part", meta));
    auto other = nettool::retrieve(options, engine, notes);
    ASSERT_FALSE(other);
    EXPECT_NE(other.error().message.find("describes another file"), std::string::npos);
    EXPECT_EQ(read_file(path + ".part"), "bytes from who knows where");
}

// A server that ignores If-Range and sends the tail of a new version: the length (or the
// ETag) gives it away, and the download starts over instead of splicing.
TEST(Retrieve, ATailOfAChangedResourceStartsOver) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    const std::string old_body = body_of(6000);
    leave_part(path, old_body, 2000, "http://example.test/file.bin");
    const std::string new_body(7000, 'Z');
    FakeTransferEngine engine;
    engine.script(partial(new_body, 2000, "\"e\"")); // same ETag, other length
    engine.script(with_etag(FakeTransferEngine::ok(new_body), "\"e2\""));
    auto options = options_for(path);
    options.resume = true;
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    ASSERT_EQ(engine.requests().size(), 2u);
    EXPECT_EQ(engine.requests()[0].resume_from, 2000u);
    EXPECT_EQ(engine.requests()[1].resume_from, 0u);
    EXPECT_EQ(read_file(path), new_body);
    EXPECT_EQ(result->sha256, sha256_hex(new_body));
    EXPECT_EQ(notes.retries, 0);
    ASSERT_FALSE(notes.notes.empty());
    EXPECT_NE(notes.notes[0].find("its length is now 7000 bytes, not 6000"), std::string::npos)
        << notes.notes[0];

    // Same length, other ETag.
    leave_part(path + "2", old_body, 2000, "http://example.test/file.bin");
    const std::string same_size(6000, 'Q');
    engine.script(partial(same_size, 2000, "\"other\""));
    engine.script(with_etag(FakeTransferEngine::ok(same_size), "\"other\""));
    auto options2 = options_for(path + "2");
    options2.resume = true;
    auto second = nettool::retrieve(options2, engine, notes);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(read_file(path + "2"), same_size);
}

// Nothing the server could check a range against (no strong ETag, no Last-Modified; a length
// alone cannot tell two versions apart): the bytes are not resumed.
TEST(Retrieve, BytesThatCannotBeCheckedAreNotResumed) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    write_file(path + ".part", "old");
    nettool::PartMeta meta;
    meta.url = "http://example.test/file.bin";
    meta.etag = "W/\"weak\"";
    meta.content_length = 5;
    ASSERT_TRUE(nettool::write_part_meta(path + ".part", meta));
    FakeTransferEngine engine;
    engine.script(FakeTransferEngine::ok("fresh"));
    auto options = options_for(path);
    options.resume = true;
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(engine.requests()[0].resume_from, 0u);
    EXPECT_EQ(read_file(path), "fresh");
    ASSERT_FALSE(notes.notes.empty());
    EXPECT_NE(notes.notes[0].find("cannot be checked"), std::string::npos);
}

// A 206 that ends before the resource does (a capped range, or a lie) is continued, not
// renamed into place short.
TEST(Retrieve, APartThatEndsEarlyIsContinued) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    const std::string body = body_of(9000);
    FakeTransferEngine engine;
    auto first = FakeTransferEngine::ok(body.substr(0, 4000), 1000, 206, "Partial Content");
    first.head.headers.push_back({"ETag", "\"e\""});
    first.head.headers.push_back({"Content-Range", "bytes 0-3999/9000"});
    engine.script(first);
    engine.script(partial(body, 4000, "\"e\""));
    Notes notes;
    auto result = nettool::retrieve(options_for(path), engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    ASSERT_EQ(engine.requests().size(), 2u);
    EXPECT_EQ(engine.requests()[1].resume_from, 4000u);
    EXPECT_EQ(read_file(path), body);
    EXPECT_EQ(notes.retries, 1);

    // More bytes than announced: a protocol error, nothing under the final name.
    FakeTransferEngine liar;
    auto step = FakeTransferEngine::ok(body, 1000);
    step.head.content_length = 5000;
    liar.script(step);
    auto lied = nettool::retrieve(options_for(dir / "g.bin"), liar, notes);
    ASSERT_FALSE(lied);
    EXPECT_EQ(lied.error().kind, ErrorKind::protocol);
    EXPECT_FALSE(exists(dir / "g.bin"));
}

// -O -c: the name comes from the response (Content-Disposition); its .part is then continued
// with a second, range request.
TEST(Retrieve, RemoteNameContinueResolvesTheNameFirst) {
    ScratchDir dir;
    const std::string body = body_of(8000);
    leave_part(dir / "report.pdf", body, 3000, "http://example.test/file.bin");
    FakeTransferEngine engine;
    auto whole = with_etag(FakeTransferEngine::ok(body), "\"e\"");
    whole.head.headers.push_back({"Content-Disposition", "attachment; filename=\"report.pdf\""});
    engine.script(whole);
    auto rest = partial(body, 3000, "\"e\"");
    rest.head.headers.push_back({"Content-Disposition", "attachment; filename=\"report.pdf\""});
    engine.script(rest);
    RetrieveOptions options = options_for("");
    options.file.reset();
    options.remote_name = true;
    options.output_dir = dir.path();
    options.resume = true;
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_TRUE(result) << result.error().message;
    ASSERT_EQ(engine.requests().size(), 2u);
    EXPECT_EQ(engine.requests()[0].resume_from, 0u);
    EXPECT_EQ(engine.requests()[1].resume_from, 3000u);
    EXPECT_EQ(engine.requests()[1].if_range, std::optional<std::string>("\"e\""));
    EXPECT_EQ(result->path, dir / "report.pdf");
    EXPECT_EQ(read_file(dir / "report.pdf"), body);
    EXPECT_EQ(result->sha256, sha256_hex(body));
    EXPECT_EQ(notes.retries, 0);
}

// A temp-area download that fails (here: the server cuts it and retries are used up) cannot
// be continued: it removes its .part and forgets its entry, leaving nothing behind.
TEST(Retrieve, AFailedTempAreaDownloadLeavesNothing) {
    ScratchDir dir;
    const std::string body = body_of(10000);
    FakeTransferEngine engine;
    auto step = with_etag(FakeTransferEngine::ok(body, 1000), "\"e\"");
    step.failure = reset_failure();
    step.fail_after_chunks = 2;
    engine.script(step);
    RetrieveOptions options = options_for("", 0);
    options.file.reset();
    options.temp_area = dir / "area";
    Notes notes;
    auto result = nettool::retrieve(options, engine, notes);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::network);
    std::vector<std::string> left;
    for (const auto& e : std::filesystem::directory_iterator(dir / "area"))
        left.push_back(e.path().filename().string());
    std::sort(left.begin(), left.end());
    EXPECT_EQ(left, (std::vector<std::string>{".registry.jsonl", ".registry.lock"}));
    EXPECT_EQ(read_file(dir / "area/.registry.jsonl"), "");
}
