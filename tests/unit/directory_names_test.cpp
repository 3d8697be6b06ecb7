#include "scratch_dir.hpp"

#include <gtest/gtest.h>
#include <nettool/directory_names.hpp>
#include <nettool/unique_fd.hpp>
#include <sys/stat.h>

using nettool::DirectoryNames;
using nettool::UniqueFd;
using nettool::test::open_dir;
using nettool::test::ScratchDir;
using nettool::test::write_file;

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
