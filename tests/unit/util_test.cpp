// core/src/util: the one write-all, atomic small-file writer, careful reader, backoff,
// stop-aware sleep, flags guard and always-on check.
#include "scratch_dir.hpp"
#include "util/check.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <nettool/stop.hpp>
#include <nettool/unique_fd.hpp>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace nettool;
using namespace std::chrono_literals;
using nettool::test::read_file;
using nettool::test::ScratchDir;
using nettool::test::write_file;

namespace {

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
    Pipe() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        read_end.reset(fds[0]);
        write_end.reset(fds[1]);
    }
};

std::size_t entries_in(const std::string& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
        ++n;
    return n;
}

} // namespace

TEST(WriteAll, WaitsOnAFullNonBlockingPipeUntilEverythingIsWritten) {
    init_stop();
    Pipe pipe;
    ASSERT_TRUE(util::set_nonblocking(pipe.write_end.get()));
    // Four times the default pipe capacity: EAGAIN and partial writes must both happen.
    const std::string data(256 * 1024, 'x');
    std::string received;
    std::thread reader([&] {
        char buffer[8192];
        for (int i = 0; i < 100000; ++i) {
            const ssize_t n = ::read(pipe.read_end.get(), buffer, sizeof buffer);
            if (n <= 0) break;
            received.append(buffer, static_cast<std::size_t>(n));
        }
    });
    const auto written = util::write_all(pipe.write_end.get(), data, "the pipe");
    pipe.write_end.reset();
    reader.join();
    ASSERT_TRUE(written) << written.error().message;
    EXPECT_EQ(received, data);
}

TEST(WriteAll, AGoneReaderIsEpipeAsTheCause) {
    std::signal(SIGPIPE, SIG_IGN); // as cmd/ does for the whole program
    Pipe pipe;
    pipe.read_end.reset();
    const auto written = util::write_all(pipe.write_end.get(), std::string("x"), "the pipe");
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().sys_errno, EPIPE);
    EXPECT_EQ(written.error().kind, ErrorKind::file_io);
    EXPECT_EQ(written.error().message, "write to the pipe: broken pipe");
}

TEST(AtomicFile, ReplacesTheContentAndLeavesNoTemporaryBehind) {
    ScratchDir dir;
    const std::string path = dir / "state";
    write_file(path, "old");
    ASSERT_TRUE(util::write_file_atomically(path, "new content\n"));
    EXPECT_EQ(read_file(path), "new content\n");
    EXPECT_EQ(entries_in(dir.path()), 1u);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(AtomicFile, FailsInAMissingDirectoryWithTheCause) {
    ScratchDir dir;
    const auto written = util::write_file_atomically(dir / "missing/state", "x");
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().kind, ErrorKind::file_io);
    EXPECT_EQ(written.error().sys_errno, ENOENT);
}

TEST(ReadOwnFile, MissingIsEmptyAndStrangeFilesAreRefused) {
    ScratchDir dir;
    auto missing = util::read_own_file(dir / "none", 100);
    ASSERT_TRUE(missing);
    EXPECT_FALSE(*missing);

    write_file(dir / "small", "hello");
    auto small = util::read_own_file(dir / "small", 100);
    ASSERT_TRUE(small && *small);
    EXPECT_EQ(**small, "hello");

    EXPECT_FALSE(util::read_own_file(dir / "small", 4)); // larger than such a file can be

    ASSERT_EQ(::symlink((dir / "small").c_str(), (dir / "link").c_str()), 0);
    auto link = util::read_own_file(dir / "link", 100);
    ASSERT_FALSE(link);
    EXPECT_NE(link.error().message.find("symbolic link"), std::string::npos);

    ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
    auto fifo = util::read_own_file(dir / "fifo", 100); // must not block on the FIFO
    ASSERT_FALSE(fifo);
    EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos);
}

TEST(Paths, ParentAndBase) {
    EXPECT_EQ(util::parent_directory("a/b/c"), "a/b");
    EXPECT_EQ(util::parent_directory("name"), ".");
    EXPECT_EQ(util::parent_directory("/name"), "/");
    EXPECT_EQ(util::base_name("a/b/c"), "c");
    EXPECT_EQ(util::base_name("name"), "name");
}

TEST(Backoff, DoublesFromTheFirstDelayUpToTheCap) {
    const auto at = [](int attempt) {
        return util::exponential_backoff(100ms, 1000ms, attempt).count();
    };
    EXPECT_EQ(at(1), 100);
    EXPECT_EQ(at(2), 200);
    EXPECT_EQ(at(4), 800);
    EXPECT_EQ(at(5), 1000);
    EXPECT_EQ(at(1000), 1000); // no overflow for a large attempt
    EXPECT_EQ(at(0), 100);
}

TEST(SleepUnlessStopped, SleepsOrStopsAtOnce) {
    init_stop();
    reset_stop_for_tests();
    const auto start = util::Clock::now();
    EXPECT_TRUE(util::sleep_unless_stopped(30ms));
    EXPECT_GE(util::Clock::now() - start, 30ms);
    request_stop(SIGTERM);
    const auto stopped = util::Clock::now();
    EXPECT_FALSE(util::sleep_unless_stopped(10s));
    EXPECT_LT(util::Clock::now() - stopped, 1s);
    reset_stop_for_tests();
}

TEST(FlagsGuard, PutsTheFlagsBackWhenItGoesOutOfScope) {
    Pipe pipe;
    const int fd = pipe.read_end.get();
    const int before = ::fcntl(fd, F_GETFL);
    {
        auto saved = util::set_nonblocking(fd);
        ASSERT_TRUE(saved);
        util::FlagsGuard guard(fd, *saved);
        EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        util::FlagsGuard moved = std::move(guard); // only the new owner restores
    }
    EXPECT_EQ(::fcntl(fd, F_GETFL), before);
}

TEST(CheckDeathTest, ABrokenInvariantStopsTheProgramNamingIt) {
    const auto broken = [] { NETTOOL_CHECK(1 + 1 == 3); };
    EXPECT_DEATH(broken(), "internal error: '1 \\+ 1 == 3' does not hold at .*util_test.cpp");
}
