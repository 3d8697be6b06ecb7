// The download write path: BufferPipeline's hand-off to consumer threads, and DownloadWriter
// over a real .part (bytes written = bytes hashed, write errors reach the caller, the threads
// are joined on every way out).
#include "buffer_pipeline.hpp"
#include "download_writer.hpp"
#include "fake_transfer_engine.hpp"
#include "scratch_dir.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <mutex>
#include <nettool/digest.hpp>
#include <nettool/retrieve.hpp>
#include <nettool/stop.hpp>
#include <random>
#include <sys/resource.h>
#include <sys/stat.h>
#include <thread>

using nettool::AtomicOutput;
using nettool::BufferPipeline;
using nettool::Digest;
using nettool::DownloadWriter;
using nettool::DownloadWriterOptions;
using nettool::ErrorKind;
using nettool::Status;
using nettool::test::FakeTransferEngine;
using nettool::test::ScratchDir;

namespace {

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937 random(seed);
    std::string bytes(size, '\0');
    for (auto& c : bytes)
        c = static_cast<char>(random());
    return bytes;
}

std::string sha256_of(std::string_view data) {
    auto digest = Digest::create("sha256").value();
    digest.update({data.data(), data.size()});
    return digest.hex();
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The threads of this process (each pipeline lane is one).
std::size_t thread_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/self/task"))
        ++n;
    return n;
}

// Feeds `data` in pieces of varying size (1 byte to 70 KiB), as libcurl might.
template <class Write> Status feed(std::string_view data, Write write, unsigned seed = 1) {
    std::mt19937 random(seed);
    while (!data.empty()) {
        const std::size_t n = std::min<std::size_t>(data.size(), 1 + random() % (70 * 1024));
        if (auto written = write(std::span<const char>(data.data(), n)); !written) return written;
        data.remove_prefix(n);
    }
    return {};
}

// RLIMIT_FSIZE for the scope, with SIGXFSZ ignored so that a write past it fails with EFBIG.
class FileSizeLimit {
  public:
    explicit FileSizeLimit(rlim_t bytes) {
        ::getrlimit(RLIMIT_FSIZE, &m_saved);
        m_old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit limit = m_saved;
        limit.rlim_cur = bytes;
        ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &m_saved);
        std::signal(SIGXFSZ, m_old_handler);
    }

  private:
    rlimit m_saved{};
    void (*m_old_handler)(int) = nullptr;
};

} // namespace

TEST(BufferPipeline, EveryConsumerSeesEveryByteInOrder) {
    std::string first;
    std::string second;
    const std::size_t threads_before = thread_count();
    {
        BufferPipeline pipeline(3, 4096,
                                {[&](std::span<const char> d) {
                                     first.append(d.data(), d.size());
                                     return Status{};
                                 },
                                 [&](std::span<const char> d) {
                                     second.append(d.data(), d.size());
                                     return Status{};
                                 }});
        EXPECT_EQ(thread_count(), threads_before + 2);
        const std::string data = random_bytes(300'000, 7);
        ASSERT_TRUE(feed(data, [&](auto chunk) { return pipeline.append(chunk, pipeline.all()); }));
        ASSERT_TRUE(pipeline.wait());
        EXPECT_EQ(first, data);
        EXPECT_EQ(second, data);
        // Bytes for one consumer only (a resumed part's, to the hasher) reach only it.
        ASSERT_TRUE(pipeline.append(std::span<const char>("tail", 4), 0b10));
        ASSERT_TRUE(pipeline.wait());
        EXPECT_EQ(first, data);
        EXPECT_EQ(second, data + "tail");
    }
    EXPECT_EQ(thread_count(), threads_before);
}

TEST(BufferPipeline, AConsumerErrorReachesTheProducerAndTheOthersGoOn) {
    std::atomic<int> calls{0};
    std::string hashed;
    BufferPipeline pipeline(2, 1024,
                            {[&](std::span<const char>) -> Status {
                                 if (++calls == 3)
                                     return nettool::fail_errno(ErrorKind::file_io, ENOSPC,
                                                                "write f.part: no space");
                                 return {};
                             },
                             [&](std::span<const char> d) {
                                 hashed.append(d.data(), d.size());
                                 return Status{};
                             }});
    const std::string data = random_bytes(64 * 1024, 3);
    Status seen;
    for (std::size_t i = 0; i < data.size() && seen; i += 512)
        seen = pipeline.append(std::span<const char>(data.data() + i, 512), pipeline.all());
    const Status waited = pipeline.wait();
    ASSERT_FALSE(waited);
    EXPECT_EQ(waited.error().sys_errno, ENOSPC);
    EXPECT_EQ(waited.error().kind, ErrorKind::file_io);
    // The failed consumer is not called again; later appends keep failing.
    EXPECT_EQ(calls.load(), 3);
    EXPECT_FALSE(pipeline.append(std::span<const char>("x", 1), pipeline.all()));
}

TEST(BufferPipeline, TheDestructorJoinsABusyConsumer) {
    const std::size_t threads_before = thread_count();
    std::atomic<bool> inside{false};
    std::atomic<bool> finished{false};
    {
        BufferPipeline pipeline(2, 16, {[&](std::span<const char>) {
                                    inside = true;
                                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                                    finished = true;
                                    return Status{};
                                }});
        ASSERT_TRUE(
            pipeline.append(std::span<const char>("0123456789abcdef01234", 21), pipeline.all()));
        ASSERT_TRUE(pipeline.flush());
        for (int i = 0; i < 1000 && !inside; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ASSERT_TRUE(inside.load());
    } // no wait(): destroyed while the consumer works and a buffer is still queued
    EXPECT_TRUE(finished.load());
    EXPECT_EQ(thread_count(), threads_before);
}

class DownloadWriterTest : public ::testing::Test {
  protected:
    AtomicOutput open(bool resume = false) {
        nettool::AtomicOutputOptions o;
        o.resume = resume;
        o.force = true;
        auto output = AtomicOutput::open(m_dir / "f.bin", o);
        EXPECT_TRUE(output) << output.error().message;
        return std::move(*output);
    }
    std::string part() const { return read_all(m_dir / "f.bin.part"); }

    ScratchDir m_dir;
};

TEST_F(DownloadWriterTest, TheBytesHashedAreTheBytesWritten) {
    for (const bool sync : {true, false}) {
        AtomicOutput output = open();
        DownloadWriterOptions o;
        o.sha256 = true;
        o.checksum = "md5";
        o.sync = sync;
        DownloadWriter writer(output, o);
        const std::string data = random_bytes(5 * 1024 * 1024 + 12345, sync ? 1 : 2);
        writer.preallocate(data.size());
        ASSERT_TRUE(feed(data, [&](auto chunk) { return writer.write(chunk); }));
        EXPECT_EQ(writer.size(), data.size());
        ASSERT_TRUE(writer.settle());
        EXPECT_EQ(output.size(), data.size());
        EXPECT_TRUE(part() == data);
        EXPECT_EQ(writer.sha256_hex(), sha256_of(data));
        auto md5 = Digest::create("md5").value();
        md5.update({data.data(), data.size()});
        EXPECT_EQ(writer.checksum_hex(), md5.hex());
        output.discard();
    }
}

TEST_F(DownloadWriterTest, NothingIsHashedUnlessAskedFor) {
    AtomicOutput output = open();
    DownloadWriter writer(output, {});
    EXPECT_FALSE(writer.hashing());
    const std::string data = random_bytes(100'000, 4);
    ASSERT_TRUE(feed(data, [&](auto chunk) { return writer.write(chunk); }));
    ASSERT_TRUE(writer.settle());
    EXPECT_TRUE(part() == data);
    EXPECT_EQ(writer.sha256_hex(), "");
}

TEST_F(DownloadWriterTest, AResumedPartAtAnOddOffsetIsHashedWholeAndContinuedExactly) {
    const std::string data = random_bytes(3 * 1024 * 1024 + 77, 5);
    { std::ofstream(m_dir / "f.bin.part", std::ios::binary).write(data.data(), 1001); }
    AtomicOutput output = open(true);
    ASSERT_EQ(output.size(), 1001u);
    DownloadWriterOptions o;
    o.checksum = "sha256";
    DownloadWriter writer(output, o);
    ASSERT_TRUE(writer.hash_existing());
    ASSERT_TRUE(
        feed(std::string_view(data).substr(1001), [&](auto chunk) { return writer.write(chunk); }));
    ASSERT_TRUE(writer.settle());
    EXPECT_TRUE(part() == data);
    EXPECT_EQ(writer.checksum_hex(), sha256_of(data));
}

TEST_F(DownloadWriterTest, RestartThrowsAwayBytesAndDigest) {
    AtomicOutput output = open();
    DownloadWriterOptions o;
    o.sha256 = true;
    DownloadWriter writer(output, o);
    ASSERT_TRUE(feed(random_bytes(2'000'000, 6), [&](auto chunk) { return writer.write(chunk); }));
    ASSERT_TRUE(writer.restart());
    EXPECT_EQ(writer.size(), 0u);
    const std::string data = random_bytes(1'500'000, 8);
    ASSERT_TRUE(feed(data, [&](auto chunk) { return writer.write(chunk); }));
    ASSERT_TRUE(writer.settle());
    EXPECT_TRUE(part() == data);
    EXPECT_EQ(writer.sha256_hex(), sha256_of(data));
}

TEST_F(DownloadWriterTest, AWriteErrorBehindTheTransferReachesIt) {
    const std::size_t threads_before = thread_count();
    {
        AtomicOutput output = open();
        DownloadWriterOptions o;
        o.sha256 = true;
        DownloadWriter writer(output, o);
        const std::string data = random_bytes(4 * 1024 * 1024, 9);
        FileSizeLimit limit(1024 * 1024 + 100);
        Status status = feed(data, [&](auto chunk) { return writer.write(chunk); });
        const Status settled = writer.settle(true);
        if (status) status = settled;
        ASSERT_FALSE(status);
        EXPECT_EQ(status.error().kind, ErrorKind::file_io);
        EXPECT_EQ(status.error().sys_errno, EFBIG);
        // What the file holds is what counts for a resume: a prefix of the data.
        EXPECT_EQ(writer.size(), output.size());
        EXPECT_LE(output.size(), 1024u * 1024 + 100);
        EXPECT_GE(output.size(), 1024u * 1024);
        EXPECT_EQ(part().size(), output.size());
        EXPECT_TRUE(part() == data.substr(0, output.size()));
    }
    EXPECT_EQ(thread_count(), threads_before);
}

TEST_F(DownloadWriterTest, APreallocatedPartKeepsItsWrittenSizeAndGivesBlocksBack) {
    AtomicOutput output = open();
    DownloadWriter writer(output, {});
    writer.preallocate(64 * 1024 * 1024);
    const std::string data = random_bytes(100'000, 10);
    ASSERT_TRUE(feed(data, [&](auto chunk) { return writer.write(chunk); }));
    ASSERT_TRUE(writer.settle(true)); // the transfer failed here
    struct stat st {};
    ASSERT_EQ(::stat((m_dir / "f.bin.part").c_str(), &st), 0);
    EXPECT_EQ(static_cast<std::size_t>(st.st_size), data.size());
    // Far below the 64 MiB reserved: the blocks past the end went back.
    EXPECT_LT(st.st_blocks * 512, 4 * 1024 * 1024);
}

TEST(RetrieveThreads, AnInterruptedDownloadJoinsItsThreadsAndKeepsThePart) {
    ScratchDir dir;
    const std::size_t threads_before = thread_count();
    const std::string body = random_bytes(3 * 1024 * 1024, 11);
    FakeTransferEngine engine;
    auto step = FakeTransferEngine::ok(body, 64 * 1024);
    step.head.headers.push_back({"ETag", "\"e\""});
    nettool::http::TransferError stopped;
    stopped.error = nettool::Error{ErrorKind::interrupted, "interrupted"};
    stopped.cause = nettool::http::FailureCause::interrupted;
    step.failure = stopped;
    step.fail_after_chunks = 20;
    engine.script(step);
    nettool::RetrieveOptions options;
    options.url = *nettool::http::parse_url("http://example.test/file.bin");
    options.file = dir / "f.bin";
    options.checksum = nettool::ChecksumSpec{"sha256", sha256_of(body)};
    nettool::RetrieveObserver observer;
    nettool::init_stop();
    nettool::request_stop(SIGINT);
    auto result = nettool::retrieve(options, engine, observer);
    nettool::reset_stop_for_tests();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::interrupted);
    EXPECT_EQ(thread_count(), threads_before);
    EXPECT_EQ(read_all(dir / "f.bin.part"), body.substr(0, 20 * 64 * 1024));
}
