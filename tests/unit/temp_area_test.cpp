#include "scratch_dir.hpp"

#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>
#include <nettool/temp_area.hpp>
#include <optional>
#include <set>
#include <span>
#include <sys/stat.h>
#include <unistd.h>

using nettool::ErrorKind;
using nettool::TempArea;
using nettool::test::read_file;
using nettool::test::ScratchDir;

namespace {
mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
}

// Sets an environment variable for one scope.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const char* value) : m_name(name) {
        if (const char* old = std::getenv(name)) m_old = old;
        if (value)
            ::setenv(name, value, 1);
        else
            ::unsetenv(name);
    }
    ~ScopedEnv() {
        if (m_old)
            ::setenv(m_name, m_old->c_str(), 1);
        else
            ::unsetenv(m_name);
    }

  private:
    const char* m_name;
    std::optional<std::string> m_old;
};
} // namespace

TEST(TempArea, DefaultPathFollowsTheEnvironment) {
    ScopedEnv own("NETTOOL_TMPDIR", nullptr);
    {
        ScopedEnv tmp("TMPDIR", nullptr);
        EXPECT_EQ(nettool::default_temp_area_path(), "/tmp/nettool-" + std::to_string(::geteuid()));
    }
    {
        ScopedEnv tmp("TMPDIR", "/var/tmp/");
        EXPECT_EQ(nettool::default_temp_area_path(),
                  "/var/tmp/nettool-" + std::to_string(::geteuid()));
    }
    ScopedEnv set("NETTOOL_TMPDIR", "/somewhere/mine");
    EXPECT_EQ(nettool::default_temp_area_path(), "/somewhere/mine");
}

TEST(TempArea, IsCreatedPrivateEvenUnderAPermissiveOrHostileUmask) {
    ScratchDir scratch;
    const std::string area_path = scratch / "area";
    const mode_t old_mask = ::umask(0277);
    auto area = TempArea::open(area_path);
    ::umask(old_mask);
    ASSERT_TRUE(area) << area.error().message;
    EXPECT_EQ(mode_of(area_path), 0700u);
    // Opening again verifies and succeeds.
    EXPECT_TRUE(TempArea::open(area_path));
}

TEST(TempArea, RefusesAWrongMode) {
    ScratchDir scratch;
    const std::string area_path = scratch / "area";
    ASSERT_EQ(::mkdir(area_path.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(area_path.c_str(), 0755), 0);
    auto area = TempArea::open(area_path);
    ASSERT_FALSE(area);
    EXPECT_EQ(area.error().kind, ErrorKind::file_io);
    EXPECT_EQ(area.error().message,
              "temp area " + area_path +
                  " is not safe: mode 0755, not 0700; remove it or set NETTOOL_TMPDIR");
}

TEST(TempArea, RefusesASymlink) {
    ScratchDir scratch;
    const std::string real = scratch / "real";
    const std::string area_path = scratch / "area";
    ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
    ASSERT_EQ(::symlink(real.c_str(), area_path.c_str()), 0);
    auto area = TempArea::open(area_path);
    ASSERT_FALSE(area);
    EXPECT_EQ(area.error().message,
              "temp area " + area_path +
                  " is not safe: it is a symbolic link; remove it or set NETTOOL_TMPDIR");
    auto found = TempArea::find(area_path);
    ASSERT_FALSE(found);
}

TEST(TempArea, RefusesAPlainFile) {
    ScratchDir scratch;
    const std::string area_path = scratch / "area";
    nettool::test::write_file(area_path, "x");
    auto area = TempArea::open(area_path);
    ASSERT_FALSE(area);
    EXPECT_NE(area.error().message.find("it is not a directory"), std::string::npos);
}

TEST(TempArea, RefusesAnotherOwnersDirectory) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory away";
    ScratchDir scratch;
    const std::string area_path = scratch / "area";
    ASSERT_EQ(::mkdir(area_path.c_str(), 0700), 0);
    ASSERT_EQ(::chown(area_path.c_str(), 1000, 1000), 0);
    auto area = TempArea::open(area_path);
    ASSERT_FALSE(area);
    EXPECT_EQ(area.error().message,
              "temp area " + area_path +
                  " is not safe: owned by uid 1000; remove it or set NETTOOL_TMPDIR");
}

TEST(TempArea, FindReportsAMissingArea) {
    ScratchDir scratch;
    auto found = TempArea::find(scratch / "never-created");
    ASSERT_TRUE(found);
    EXPECT_FALSE(found->has_value());
}

TEST(TempArea, CreatesUniquePrivateFilesKeepingTheExtension) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    std::set<std::string> names;
    const auto publish = [](nettool::AtomicOutput& out) { return out.publish(); };
    for (int i = 0; i < 20; ++i) {
        auto out = area->create_output("report.pdf", publish);
        ASSERT_TRUE(out) << out.error().message;
        const std::string& path = out->path();
        EXPECT_EQ(path.rfind(area->path() + "/report-", 0), 0u) << path;
        EXPECT_EQ(path.substr(path.size() - 4), ".pdf") << path;
        EXPECT_TRUE(names.insert(path).second) << "duplicate " << path;
        ASSERT_TRUE(out->write(std::span<const char>("x", 1)));
        ASSERT_TRUE(out->commit());
        EXPECT_EQ(mode_of(path), 0600u); // private even once complete
        EXPECT_EQ(read_file(path), "x");
    }
    auto bare = area->create_output("", publish);
    ASSERT_TRUE(bare);
    EXPECT_NE(bare->path().find("/download-"), std::string::npos);
}

TEST(TempArea, RefusesASymlinkWithATrailingSlash) {
    ScratchDir scratch;
    const std::string real = scratch / "real";
    ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
    ASSERT_EQ(::symlink(real.c_str(), (scratch / "link").c_str()), 0);
    for (const std::string& given : {scratch / "link/", scratch / "link//", scratch / "link/."}) {
        auto area = TempArea::open(given);
        ASSERT_FALSE(area) << given;
        EXPECT_NE(area.error().message.find("symbolic link"), std::string::npos)
            << area.error().message;
        auto found = TempArea::find(given);
        ASSERT_FALSE(found) << given;
    }
}

// A symbolic link on the way to the area is followed only when root or the user owns it (a
// system layout, or the user's own): anybody else could point it elsewhere at any time.
TEST(TempArea, AncestorSymlinksAreFollowedOnlyWhenTrusted) {
    ScratchDir scratch;
    ASSERT_EQ(::mkdir((scratch / "real").c_str(), 0700), 0);
    ASSERT_EQ(::symlink("real", (scratch / "mine").c_str()), 0);
    auto through_own = TempArea::open(scratch / "mine/area");
    ASSERT_TRUE(through_own) << through_own.error().message;
    EXPECT_EQ(through_own->path(), scratch / "mine/area");
    struct stat st {};
    EXPECT_EQ(::lstat((scratch / "real/area").c_str(), &st), 0);
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a symlink away";
    ASSERT_EQ(::symlink("real", (scratch / "theirs").c_str()), 0);
    ASSERT_EQ(::lchown((scratch / "theirs").c_str(), 4242, 4242), 0);
    auto through_theirs = TempArea::open(scratch / "theirs/area");
    ASSERT_FALSE(through_theirs);
    EXPECT_EQ(through_theirs.error().message,
              "temp area " + scratch / "theirs/area" + " is not safe: " + scratch / "theirs" +
                  " is a symbolic link owned by uid 4242; remove it or set NETTOOL_TMPDIR");
    EXPECT_FALSE(TempArea::find(scratch / "theirs/area"));
}

TEST(TempArea, PathsAreTidiedAndMissingParentsAreNothingToFind) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch.path() + "//area///");
    ASSERT_TRUE(area) << area.error().message;
    EXPECT_EQ(area->path(), scratch / "area");
    EXPECT_EQ(area->path_of("x"), scratch / "area/x");
    auto missing = TempArea::find(scratch / "no/such/area");
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->has_value());
    auto cannot = TempArea::open(scratch / "no/such/area");
    ASSERT_FALSE(cannot);
    EXPECT_NE(cannot.error().message.find("cannot create temp area"), std::string::npos);
    nettool::test::write_file(scratch / "file", "x");
    auto through_file = TempArea::open(scratch / "file/area");
    ASSERT_FALSE(through_file);
    EXPECT_NE(through_file.error().message.find("is not a directory"), std::string::npos);
}

TEST(TempArea, AFailedRecordLeavesNoFile) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    auto out = area->create_output("x.bin", [](nettool::AtomicOutput&) -> nettool::Status {
        return nettool::fail(ErrorKind::file_io, "the registry cannot be written");
    });
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().message, "the registry cannot be written");
    EXPECT_TRUE(std::filesystem::is_empty(area->path()));
}
