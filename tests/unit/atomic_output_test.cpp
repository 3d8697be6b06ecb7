#include "scratch_dir.hpp"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <nettool/atomic_output.hpp>
#include <nettool/directory_names.hpp>
#include <nettool/part_meta.hpp>
#include <string_view>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using nettool::AtomicOutput;
using nettool::AtomicOutputOptions;
using nettool::ErrorKind;
using nettool::test::exists;
using nettool::test::open_dir;
using nettool::test::read_file;
using nettool::test::ScratchDir;
using nettool::test::write_file;

namespace {
std::span<const char> bytes(std::string_view text) {
    return {text.data(), text.size()};
}

AtomicOutputOptions forced() {
    AtomicOutputOptions options;
    options.force = true;
    return options;
}

AtomicOutputOptions resuming() {
    AtomicOutputOptions options;
    options.resume = true;
    return options;
}

nettool::PartMeta meta_for(std::string url) {
    nettool::PartMeta meta;
    meta.url = std::move(url);
    return meta;
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
}
} // namespace

TEST(AtomicOutput, WritesThePartAndRenamesOnCommit) {
    ScratchDir dir;
    const std::string path = dir / "file.bin";
    const mode_t old_mask = ::umask(022);
    auto out = AtomicOutput::open(path);
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_FALSE(out->direct());
    EXPECT_EQ(out->part_path(), path + ".part");
    EXPECT_EQ(mode_of(path + ".part"), 0600u); // private while incomplete
    ASSERT_TRUE(out->write(bytes("hello ")));
    ASSERT_TRUE(out->write(bytes("world")));
    EXPECT_FALSE(exists(path)); // the final name never holds a partial file
    const auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(1'000'000'000));
    ASSERT_TRUE(out->commit(mtime));
    ::umask(old_mask);
    EXPECT_EQ(read_file(path), "hello world");
    EXPECT_FALSE(exists(path + ".part"));
    EXPECT_EQ(mode_of(path), 0644u); // like a normal new file under umask 022
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1'000'000'000);
}

TEST(AtomicOutput, RefusesToOverwriteAnExistingFileUnlessForced) {
    ScratchDir dir;
    const std::string path = dir / "keep.txt";
    write_file(path, "precious");
    auto refused = AtomicOutput::open(path);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::file_io);
    EXPECT_EQ(refused.error().message, path + " already exists; use --force to overwrite it");
    EXPECT_FALSE(exists(path + ".part"));

    auto replaced = AtomicOutput::open(path, forced());
    ASSERT_TRUE(replaced) << replaced.error().message;
    ASSERT_TRUE(replaced->write(bytes("new")));
    ASSERT_TRUE(replaced->commit());
    EXPECT_EQ(read_file(path), "new");
}

TEST(AtomicOutput, CommitDoesNotReplaceAFileThatAppearedMeanwhile) {
    ScratchDir dir;
    const std::string path = dir / "race.txt";
    auto out = AtomicOutput::open(path);
    ASSERT_TRUE(out);
    ASSERT_TRUE(out->write(bytes("downloaded")));
    write_file(path, "someone else's"); // created while we downloaded
    auto committed = out->commit();
    ASSERT_FALSE(committed);
    EXPECT_EQ(committed.error().kind, ErrorKind::file_io);
    EXPECT_EQ(read_file(path), "someone else's");
    EXPECT_EQ(read_file(path + ".part"), "downloaded"); // kept for --continue
}

TEST(AtomicOutput, AnAbandonedDownloadKeepsItsPartAndNoFinalFile) {
    ScratchDir dir;
    const std::string path = dir / "big.iso";
    {
        auto out = AtomicOutput::open(path);
        ASSERT_TRUE(out);
        ASSERT_TRUE(out->write(bytes("first half")));
    }
    EXPECT_FALSE(exists(path));
    EXPECT_EQ(read_file(path + ".part"), "first half");

    // Without --continue an existing .part is not silently clobbered.
    auto again = AtomicOutput::open(path);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("--continue"), std::string::npos);

    // --continue appends to it.
    auto resumed = AtomicOutput::open(path, resuming());
    ASSERT_TRUE(resumed) << resumed.error().message;
    EXPECT_TRUE(resumed->resumed());
    EXPECT_EQ(resumed->size(), 10u);
    ASSERT_TRUE(resumed->write(bytes(", second half")));
    ASSERT_TRUE(resumed->commit());
    EXPECT_EQ(read_file(path), "first half, second half");
}

TEST(AtomicOutput, RestartThrowsAwayWhatWasWritten) {
    ScratchDir dir;
    const std::string path = dir / "r.txt";
    write_file(path + ".part", "stale bytes");
    auto out = AtomicOutput::open(path, resuming());
    ASSERT_TRUE(out);
    ASSERT_TRUE(out->restart());
    EXPECT_EQ(out->size(), 0u);
    ASSERT_TRUE(out->write(bytes("fresh")));
    ASSERT_TRUE(out->commit());
    EXPECT_EQ(read_file(path), "fresh");
}

TEST(AtomicOutput, ResumeRefusesASymlinkedPart) {
    ScratchDir dir;
    const std::string path = dir / "s.txt";
    write_file(dir / "target", "outside");
    ASSERT_EQ(::symlink((dir / "target").c_str(), (path + ".part").c_str()), 0);
    auto out = AtomicOutput::open(path, resuming());
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().kind, ErrorKind::file_io);
    EXPECT_NE(out.error().message.find("symbolic link"), std::string::npos) << out.error().message;
    EXPECT_EQ(read_file(dir / "target"), "outside");
    // Nor does a fresh download write through it.
    auto fresh = AtomicOutput::open(path, forced());
    ASSERT_TRUE(fresh) << fresh.error().message; // --force removes the link itself
    ASSERT_TRUE(fresh->write(bytes("mine")));
    EXPECT_EQ(read_file(dir / "target"), "outside");
}

TEST(AtomicOutput, ASecondWriterOfTheSamePartIsRefused) {
    ScratchDir dir;
    const std::string path = dir / "shared.bin";
    auto first = AtomicOutput::open(path);
    ASSERT_TRUE(first);
    auto second = AtomicOutput::open(path, resuming());
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message.find("being written by another nettool process"),
              std::string::npos)
        << second.error().message;
}

TEST(AtomicOutput, AWriteErrorIsAFileErrorAndLeavesNoFinalFile) {
    ScratchDir dir;
    const std::string path = dir / "full.bin";
    // A child with a 16-byte file size limit: write() fails with EFBIG like it would with ENOSPC.
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::signal(SIGXFSZ, SIG_IGN);
        rlimit limit{16, 16};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        auto out = AtomicOutput::open(path);
        if (!out) ::_exit(10);
        const std::string data(64, 'x');
        auto written = out->write(bytes(data));
        if (written) ::_exit(11);
        if (written.error().kind != ErrorKind::file_io) ::_exit(12);
        if (written.error().message.find("write to " + path + ".part: ") != 0) ::_exit(13);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_FALSE(exists(path));
    EXPECT_TRUE(exists(path + ".part"));
}

TEST(AtomicOutput, NonRegularFilesAreWrittenDirectly) {
    ScratchDir dir;
    auto null = AtomicOutput::open("/dev/null");
    ASSERT_TRUE(null) << null.error().message;
    EXPECT_TRUE(null->direct());
    EXPECT_TRUE(null->part_path().empty());
    ASSERT_TRUE(null->write(bytes("gone")));
    EXPECT_EQ(null->size(), 4u);
    ASSERT_TRUE(null->commit());
    EXPECT_FALSE(exists("/dev/null.part"));

    const std::string fifo = dir / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    nettool::UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK));
    ASSERT_TRUE(reader);
    auto out = AtomicOutput::open(fifo);
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_TRUE(out->direct());
    ASSERT_TRUE(out->write(bytes("through")));
    char buffer[16] = {};
    EXPECT_EQ(::read(reader.get(), buffer, sizeof buffer), 7);
    EXPECT_EQ(std::string(buffer, 7), "through");
    EXPECT_FALSE(exists(fifo + ".part"));
    // What went through a FIFO cannot be taken back.
    auto restarted = out->restart();
    ASSERT_FALSE(restarted);
    EXPECT_NE(restarted.error().message.find("not a regular file"), std::string::npos);

    auto stdout_output = AtomicOutput::open("-");
    ASSERT_TRUE(stdout_output);
    EXPECT_TRUE(stdout_output->direct());
    EXPECT_EQ(stdout_output->fd(), STDOUT_FILENO);

    auto directory = AtomicOutput::open(dir.path());
    ASSERT_FALSE(directory);
    EXPECT_NE(directory.error().message.find("is a directory"), std::string::npos);
}

TEST(AtomicOutput, DiscardRemovesThePartAndItsSidecar) {
    ScratchDir dir;
    const std::string path = dir / "bad.bin";
    auto out = AtomicOutput::open(path);
    ASSERT_TRUE(out);
    ASSERT_TRUE(nettool::write_part_meta(out->part_path(), meta_for("http://x/")));
    out->discard();
    EXPECT_FALSE(exists(path + ".part"));
    EXPECT_FALSE(exists(path + ".part.meta"));
    EXPECT_FALSE(exists(path));
}

TEST(PartMeta, RoundTripsAndIgnoresGarbage) {
    ScratchDir dir;
    const std::string part = dir / "x.part";
    nettool::PartMeta meta{"http://h/x",
                           "\"abc\"",
                           "Wed, 21 Oct 2015 07:28:00 GMT",
                           1234,
                           42,
                           nettool::FileIdentity{7, 99, 123456789},
                           {}};
    ASSERT_TRUE(nettool::write_part_meta(part, meta));
    EXPECT_EQ(mode_of(part + ".meta"), 0600u);
    auto back = nettool::read_part_meta(part);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->url, meta.url);
    EXPECT_EQ(back->etag, meta.etag);
    EXPECT_EQ(back->last_modified, meta.last_modified);
    EXPECT_EQ(back->content_length, std::optional<std::uint64_t>(1234));
    EXPECT_EQ(back->started, 42);
    EXPECT_EQ(back->part.device, 7u);
    EXPECT_EQ(back->part.inode, 99u);
    EXPECT_EQ(back->part.birth_ns, 123456789);
    // A sidecar of an older version has no identity: known() says so.
    auto old = nettool::parse_part_meta(R"({"url":"http://h/x","etag":"","last_modified":""})");
    ASSERT_TRUE(old);
    EXPECT_FALSE(old->part.known());
    EXPECT_FALSE(nettool::parse_part_meta("[1,2]"));
    EXPECT_FALSE(nettool::parse_part_meta(R"({"url":5})"));
    write_file(part + ".meta", "{not json");
    EXPECT_FALSE(nettool::read_part_meta(part));
    EXPECT_FALSE(nettool::read_part_meta(dir / "none.part"));
}

TEST(AtomicOutput, AnUnnamedPartGetsItsNameOnlyWhenPublished) {
    ScratchDir dir;
    nettool::UniqueFd dir_fd = open_dir(dir.path());
    ASSERT_TRUE(dir_fd);
    auto out = AtomicOutput::create_unnamed(dir_fd.get(), "n.bin", dir / "n.bin");
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_EQ(out->part_path(), dir / "n.bin.part");
    EXPECT_TRUE(out->identity().known());
    ASSERT_TRUE(out->write(bytes("early")));
    // O_TMPFILE: ext4, tmpfs, xfs and btrfs have it (the scratch directory is on one of them).
    ASSERT_FALSE(out->published());
    EXPECT_FALSE(exists(dir / "n.bin.part")); // nothing to see before it is recorded
    ASSERT_TRUE(out->publish());
    EXPECT_TRUE(out->published());
    EXPECT_EQ(read_file(dir / "n.bin.part"), "early");
    struct stat st {};
    ASSERT_EQ(::stat((dir / "n.bin.part").c_str(), &st), 0);
    EXPECT_EQ(st.st_ino, out->identity().inode);
    ASSERT_TRUE(out->commit());
    EXPECT_EQ(read_file(dir / "n.bin"), "early");

    // An unnamed .part that never gets published leaves nothing behind.
    {
        auto lost = AtomicOutput::create_unnamed(dir_fd.get(), "lost.bin", dir / "lost.bin");
        ASSERT_TRUE(lost);
        ASSERT_TRUE(lost->write(bytes("nobody recorded me")));
    }
    EXPECT_FALSE(exists(dir / "lost.bin.part"));

    // Publishing never replaces a file that took the name meanwhile.
    auto late = AtomicOutput::create_unnamed(dir_fd.get(), "taken.bin", dir / "taken.bin");
    ASSERT_TRUE(late);
    write_file(dir / "taken.bin.part", "someone else's");
    auto published = late->publish();
    ASSERT_FALSE(published);
    EXPECT_EQ(published.error().sys_errno, EEXIST);
    late->discard();
    EXPECT_EQ(read_file(dir / "taken.bin.part"), "someone else's");
}

TEST(AtomicOutput, AFifoWhereThePartShouldBeIsRefusedWithoutHanging) {
    ScratchDir dir;
    const std::string path = dir / "f.bin";
    ASSERT_EQ(::mkfifo((path + ".part").c_str(), 0600), 0);
    auto resumed = AtomicOutput::open(path, resuming());
    ASSERT_FALSE(resumed);
    EXPECT_NE(resumed.error().message.find("not a regular file"), std::string::npos)
        << resumed.error().message;
    auto fresh = AtomicOutput::open(path);
    ASSERT_FALSE(fresh);
    EXPECT_NE(fresh.error().message.find("already exists"), std::string::npos);
}

TEST(AtomicOutput, SymbolicLinksAtTheNameAreJudgedByWhatTheyName) {
    ScratchDir dir;
    // A dangling link is an existing NAME: refused without --force, never written through.
    const std::string dangling = dir / "dangling.bin";
    ASSERT_EQ(::symlink((dir / "nowhere").c_str(), dangling.c_str()), 0);
    auto refused = AtomicOutput::open(dangling);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().sys_errno, EEXIST);
    // A link to a directory is a directory; a link to a device is written directly.
    const std::string to_dir = dir / "to-dir";
    ASSERT_EQ(::symlink(dir.path().c_str(), to_dir.c_str()), 0);
    auto directory = AtomicOutput::open(to_dir);
    ASSERT_FALSE(directory);
    EXPECT_NE(directory.error().message.find("is a directory"), std::string::npos);
    const std::string to_null = dir / "to-null";
    ASSERT_EQ(::symlink("/dev/null", to_null.c_str()), 0);
    auto direct = AtomicOutput::open(to_null);
    ASSERT_TRUE(direct) << direct.error().message;
    EXPECT_TRUE(direct->direct());
}

TEST(AtomicOutput, CommitRemovesTheSidecarsItCanHave) {
    ScratchDir dir;
    // Written for this .part: removed at commit.
    const std::string path = dir / "written.bin";
    auto out = AtomicOutput::open(path);
    ASSERT_TRUE(out);
    ASSERT_TRUE(nettool::write_part_meta(out->part_path(), meta_for("http://x/")));
    out->sidecar_written();
    ASSERT_TRUE(out->commit(std::nullopt, false));
    EXPECT_TRUE(exists(path));
    EXPECT_FALSE(exists(path + ".part.meta"));
    // Left by the .part a resumed download continues: removed at commit too.
    const std::string resumed = dir / "resumed.bin";
    write_file(resumed + ".part", "abc");
    ASSERT_TRUE(nettool::write_part_meta(resumed + ".part", meta_for("http://x/")));
    AtomicOutputOptions resume;
    resume.resume = true;
    auto continued = AtomicOutput::open(resumed, resume);
    ASSERT_TRUE(continued) << continued.error().message;
    ASSERT_TRUE(continued->commit(std::nullopt, false));
    EXPECT_EQ(read_file(resumed), "abc");
    EXPECT_FALSE(exists(resumed + ".part.meta"));
}

namespace {
AtomicOutputOptions made_when_written() {
    AtomicOutputOptions options;
    options.defer_create = true;
    options.final_mode = 0640;
    return options;
}

std::size_t entries_in(const std::string& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir))
        ++n;
    return n;
}
} // namespace

TEST(AtomicOutput, ADeferredFileIsMadeWithoutANameAndLinkedToNameAtCommit) {
    ScratchDir dir;
    const std::string path = dir / "small.bin";
    auto out = AtomicOutput::open(path, made_when_written());
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_TRUE(out->pending());
    EXPECT_EQ(out->fd(), -1);
    ASSERT_TRUE(out->write(bytes("all of it")));
    EXPECT_FALSE(out->pending());
    // O_TMPFILE (ext4, tmpfs, xfs, btrfs): no name in the directory until the commit.
    EXPECT_EQ(entries_in(dir.path()), 0u);
    const auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(1000000000));
    ASSERT_TRUE(out->commit(mtime, false));
    EXPECT_EQ(read_file(path), "all of it");
    EXPECT_EQ(mode_of(path), 0640u);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
    EXPECT_EQ(entries_in(dir.path()), 1u); // no .part, no sidecar

    // Nothing written at all (an empty body): the commit still makes the empty file.
    auto empty = AtomicOutput::open(dir / "empty.bin", made_when_written());
    ASSERT_TRUE(empty);
    ASSERT_TRUE(empty->commit(std::nullopt, true));
    EXPECT_EQ(read_file(dir / "empty.bin"), "");
}

TEST(AtomicOutput, ADeferredFileNeverReplacesANameTakenMeanwhile) {
    ScratchDir dir;
    const std::string path = dir / "raced.bin";
    auto out = AtomicOutput::open(path, made_when_written());
    ASSERT_TRUE(out);
    ASSERT_TRUE(out->write(bytes("ours")));
    write_file(path, "theirs");
    auto committed = out->commit(std::nullopt, false);
    ASSERT_FALSE(committed);
    EXPECT_EQ(committed.error().sys_errno, EEXIST);
    EXPECT_EQ(read_file(path), "theirs");
    // Discarding a file that was never made does not touch a .part that is someone else's.
    write_file(dir / "other.bin.part", "someone else's");
    auto never = AtomicOutput::open(dir / "other.bin", made_when_written());
    ASSERT_TRUE(never);
    never->discard();
    EXPECT_EQ(read_file(dir / "other.bin.part"), "someone else's");
}

TEST(AtomicOutput, ADeferredFileKeptForContinueBecomesAPrivatePart) {
    ScratchDir dir;
    const std::string path = dir / "cut.bin";
    {
        auto out = AtomicOutput::open(path, made_when_written());
        ASSERT_TRUE(out);
        ASSERT_TRUE(out->write(bytes("first half")));
        ASSERT_TRUE(out->keep_as_part());
        EXPECT_TRUE(out->identity().known());
        EXPECT_EQ(read_file(path + ".part"), "first half");
        EXPECT_EQ(mode_of(path + ".part"), 0600u);
        struct stat st {};
        ASSERT_EQ(::stat((path + ".part").c_str(), &st), 0);
        EXPECT_EQ(st.st_ino, out->identity().inode);
    }
    EXPECT_FALSE(exists(path));
    // --continue picks it up like any other .part.
    auto resumed = AtomicOutput::open(path, resuming());
    ASSERT_TRUE(resumed) << resumed.error().message;
    EXPECT_EQ(resumed->size(), 10u);

    // A .part that appeared after the file was made: keeping fails (EEXIST), replaces nothing.
    auto out = AtomicOutput::open(dir / "stale.bin", made_when_written());
    ASSERT_TRUE(out);
    ASSERT_TRUE(out->write(bytes("new")));
    write_file(dir / "stale.bin.part", "stale");
    auto kept = out->keep_as_part();
    ASSERT_FALSE(kept);
    EXPECT_EQ(kept.error().sys_errno, EEXIST);
    EXPECT_EQ(read_file(dir / "stale.bin.part"), "stale");

    // Force and resume are never deferred: they deal with what is there at once.
    AtomicOutputOptions forced_deferred = made_when_written();
    forced_deferred.force = true;
    auto now = AtomicOutput::open(dir / "forced.bin", forced_deferred);
    ASSERT_TRUE(now);
    EXPECT_FALSE(now->pending());
    EXPECT_TRUE(exists(dir / "forced.bin.part"));
}

TEST(AtomicOutput, ADeferredFileLooksAtNameOnlyWhenItIsMade) {
    ScratchDir dir;
    // Nothing is looked at before the first write: an existing file is found then, and the
    // failure stays (keeping the bytes as a .part fails the same way, quietly).
    write_file(dir / "there.bin", "old");
    auto there = AtomicOutput::open(dir / "there.bin", made_when_written());
    ASSERT_TRUE(there);
    auto written = there->write(bytes("new"));
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().sys_errno, EEXIST);
    EXPECT_TRUE(there->create_failed());
    EXPECT_FALSE(there->keep_as_part());
    EXPECT_EQ(read_file(dir / "there.bin"), "old");
    EXPECT_FALSE(exists(dir / "there.bin.part"));
    // A directory under the name.
    ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0700), 0);
    auto into_dir = AtomicOutput::open(dir / "sub", made_when_written());
    ASSERT_TRUE(into_dir);
    auto made = into_dir->create();
    ASSERT_FALSE(made);
    EXPECT_NE(made.error().message.find("is a directory"), std::string::npos);
    // A .part left by an earlier download is refused, as without deferring, and kept.
    write_file(dir / "left.bin.part", "earlier bytes");
    auto left = AtomicOutput::open(dir / "left.bin", made_when_written());
    ASSERT_TRUE(left);
    auto refused = left->write(bytes("new"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().sys_errno, EEXIST);
    EXPECT_NE(refused.error().message.find("--continue"), std::string::npos);
    EXPECT_EQ(read_file(dir / "left.bin.part"), "earlier bytes");
    EXPECT_FALSE(exists(dir / "left.bin"));
    // Its directory removed meanwhile: a file-system error, nothing made anywhere.
    ASSERT_EQ(::mkdir((dir / "gone").c_str(), 0700), 0);
    nettool::UniqueFd gone = open_dir(dir / "gone");
    ASSERT_EQ(::rmdir((dir / "gone").c_str()), 0);
    AtomicOutputOptions in_gone = made_when_written();
    in_gone.dir_fd = gone.get();
    auto orphan = AtomicOutput::open(dir / "gone/x.bin", in_gone);
    ASSERT_TRUE(orphan);
    auto failed = orphan->write(bytes("x"));
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().kind, ErrorKind::file_io);
    EXPECT_EQ(failed.error().sys_errno, ENOENT) << failed.error().message;
    EXPECT_TRUE(orphan->create_failed());
    // Something that is not a regular file (a FIFO, /dev/null) is written directly.
    auto to_null = AtomicOutput::open("/dev/null", made_when_written());
    ASSERT_TRUE(to_null);
    ASSERT_TRUE(to_null->write(bytes("gone")));
    EXPECT_TRUE(to_null->direct());
    EXPECT_TRUE(to_null->keep_as_part()); // nothing to keep
    ASSERT_TRUE(to_null->commit(std::nullopt, false));
}

TEST(AtomicOutput, NameIsMadeInTheDirectoryGivenByDescriptorNotByItsPath) {
    ScratchDir dir;
    ASSERT_EQ(::mkdir((dir / "held").c_str(), 0700), 0);
    nettool::UniqueFd held = open_dir(dir / "held");
    ASSERT_TRUE(held);
    // The path's directory part is moved away and replaced: the descriptor still decides.
    ASSERT_EQ(::rename((dir / "held").c_str(), (dir / "moved").c_str()), 0);
    ASSERT_EQ(::mkdir((dir / "held").c_str(), 0700), 0);
    for (const bool deferred : {false, true}) {
        AtomicOutputOptions options = deferred ? made_when_written() : AtomicOutputOptions{};
        options.dir_fd = held.get();
        const std::string name = deferred ? "late.bin" : "now.bin";
        auto out = AtomicOutput::open(dir / ("held/" + name), options);
        ASSERT_TRUE(out) << out.error().message;
        ASSERT_TRUE(out->write(bytes("here")));
        ASSERT_TRUE(out->commit(std::nullopt, false));
        EXPECT_EQ(read_file(dir / ("moved/" + name)), "here");
        EXPECT_FALSE(exists(dir / ("held/" + name)));
    }
}

TEST(AtomicOutput, ANameThatAppearsAfterItsDirectoryWasReadIsStillNeverReplaced) {
    ScratchDir dir;
    const nettool::UniqueFd held = open_dir(dir.path());
    const auto names = nettool::DirectoryNames::read(held.get(), 64);
    ASSERT_TRUE(names);
    // Both ways of making a file: made when complete (linked at commit) and through a .part.
    for (const bool deferred : {true, false}) {
        const std::string name = deferred ? "late.bin" : "part.bin";
        write_file(dir / name, "theirs"); // after the reading: absent() still says so
        ASSERT_TRUE(names->absent(name));
        AtomicOutputOptions options;
        options.defer_create = deferred;
        options.dir_fd = held.get();
        options.dir_names = names.get();
        auto out = AtomicOutput::open(dir / name, options);
        ASSERT_TRUE(out) << out.error().message;
        auto written = out->write(bytes("ours"));
        auto committed = written ? out->commit(std::nullopt, false) : written;
        ASSERT_FALSE(committed) << name;
        EXPECT_EQ(committed.error().sys_errno, EEXIST) << committed.error().message;
        EXPECT_EQ(read_file(dir / name), "theirs");
        out->discard();
    }
    // What was there at the reading is looked at as ever: a directory under the name.
    ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0700), 0);
    const auto again = nettool::DirectoryNames::read(held.get(), 64);
    AtomicOutputOptions options;
    options.defer_create = true;
    options.dir_fd = held.get();
    options.dir_names = again.get();
    auto into_dir = AtomicOutput::open(dir / "sub", options);
    ASSERT_TRUE(into_dir);
    auto made = into_dir->create();
    ASSERT_FALSE(made);
    EXPECT_NE(made.error().message.find("is a directory"), std::string::npos);
    EXPECT_FALSE(exists(dir / "sub.part"));
}
