#include "scratch_dir.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nettool/atomic_output.hpp>
#include <nettool/directory_names.hpp>
#include <nettool/unique_fd.hpp>
#include <span>
#include <string_view>
#include <sys/stat.h>

using nettool::AtomicOutput;
using nettool::AtomicOutputOptions;
using nettool::DirectoryNames;
using nettool::UniqueFd;
using nettool::test::exists;
using nettool::test::read_file;
using nettool::test::ScratchDir;
using nettool::test::write_file;

namespace {
std::span<const char> bytes(std::string_view text) {
    return {text.data(), text.size()};
}

UniqueFd open_dir(const std::string& path) {
    return UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}
} // namespace

TEST(DirectoryNames, KnowsWhatWasAbsentAndNothingOfADirectoryTooLargeToRead) {
    ScratchDir dir;
    write_file(dir / "here.bin", "x");
    ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0700), 0);
    const UniqueFd held = open_dir(dir.path());
    const auto names = DirectoryNames::read(held.get(), 16);
    ASSERT_TRUE(names);
    EXPECT_FALSE(names->absent("here.bin"));
    EXPECT_FALSE(names->absent("sub"));
    EXPECT_TRUE(names->absent("new.bin"));
    EXPECT_TRUE(names->absent("here.bin.part"));
    // Read again later, it sees what came meanwhile.
    write_file(dir / "new.bin", "y");
    EXPECT_FALSE(DirectoryNames::read(held.get(), 16)->absent("new.bin"));
    // ".", "..", here.bin, sub and new.bin: more than 4 names is more than it reads.
    EXPECT_EQ(DirectoryNames::read(held.get(), 4), nullptr);
    EXPECT_EQ(DirectoryNames::read(-1, 16), nullptr);
}

TEST(DirectoryNames, ANameThatAppearsAfterTheReadingIsStillNeverReplaced) {
    ScratchDir dir;
    const UniqueFd held = open_dir(dir.path());
    const auto names = DirectoryNames::read(held.get(), 64);
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
    const auto again = DirectoryNames::read(held.get(), 64);
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
