// The HTTP module's loader: where it looks, what it refuses, and that the real module works
// through the table (the binary's path: nettool -> module_loader.cpp -> nettool-http.so).
#include "module/module_loader.hpp"
#include "scratch_dir.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using nettool::module::load_module_file;
using nettool::module::module_candidates;
using nettool::module::TrustedOwner;
using nettool::test::ScratchDir;

// The owner a binary in the build tree has: the test's own user, mode 0755.
TrustedOwner ours() {
    return TrustedOwner{::geteuid(), ::getegid(), 0755};
}

// A binary made by the same build as the file at `path` (same owner, same umask).
TrustedOwner like(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return ours();
    return TrustedOwner{st.st_uid, st.st_gid, st.st_mode};
}

// A copy of `from` at `to` with `mode` (the build tree's module may be shared by other tests).
void copy_file(const std::string& from, const std::string& to, mode_t mode) {
    std::filesystem::copy_file(from, to);
    ASSERT_EQ(::chmod(to.c_str(), mode), 0);
}

TEST(ModuleLoader, LooksBesideTheBinaryThenInTheInstallLayout) {
    const auto candidates = module_candidates("/opt/nettool/bin");
    ASSERT_EQ(candidates.size(), 2u);
    EXPECT_EQ(candidates[0], "/opt/nettool/bin/nettool-http.so");
    // The install layout, e.g. ../lib/x86_64-linux-gnu/nettool, with the ".." resolved.
    std::string relative = NETTOOL_MODULE_INSTALL_DIR;
    std::string base = "/opt/nettool/bin";
    while (relative.rfind("../", 0) == 0) {
        base.resize(base.rfind('/'));
        relative.erase(0, 3);
    }
    EXPECT_EQ(candidates[1], base + "/" + relative + "/nettool-http.so");
    EXPECT_EQ(candidates[1].find(".."), std::string::npos);
    // Only places relative to the binary: never the current directory or a search path.
    for (const auto& candidate : candidates)
        EXPECT_EQ(candidate.rfind("/opt/nettool/", 0), 0u) << candidate;
    // A binary in / itself.
    EXPECT_EQ(module_candidates("/")[0], "/nettool-http.so");
    EXPECT_EQ(module_candidates("/")[1].find(".."), std::string::npos);
}

TEST(ModuleLoader, LoadsTheRealModuleAndItsFunctionsWork) {
    auto loaded =
        load_module_file(NETTOOL_TEST_MODULE, NETTOOL_MODULE_KEY, like(NETTOOL_TEST_MODULE));
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(loaded->path, NETTOOL_TEST_MODULE);
    const auto& calls = *loaded->calls;

    auto url = calls.parse_url("example.com:8080/a?b=1");
    ASSERT_TRUE(url) << url.error().message;
    EXPECT_EQ(url->text, "http://example.com:8080/a?b=1");
    EXPECT_EQ(url->port, 8080);
    auto bad = calls.parse_url("http://exa mple.com/");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, nettool::ErrorKind::usage);
    EXPECT_FALSE(calls.check_proxy_url("gopher://proxy:1"));

    auto digest = calls.digest_new("sha256");
    ASSERT_TRUE(digest) << digest.error().message;
    calls.digest_update(*digest, "abc", 3);
    EXPECT_EQ(calls.digest_hex(*digest),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    calls.digest_reset(*digest);
    EXPECT_EQ(calls.digest_hex(*digest),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    calls.digest_free(*digest);
    EXPECT_EQ(calls.digest_new("sha3").error().kind, nettool::ErrorKind::usage);

    auto versions = calls.library_versions();
    ASSERT_TRUE(versions);
    EXPECT_NE(versions->find("libcurl "), std::string::npos) << *versions;
}

TEST(ModuleLoader, AMissingFileIsReportedAsAbsent) {
    ScratchDir dir;
    auto loaded = load_module_file(dir / "nettool-http.so", NETTOOL_MODULE_KEY, ours());
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().sys_errno, ENOENT); // the caller tries the next place
    EXPECT_EQ(loaded.error().kind, nettool::ErrorKind::generic);
}

TEST(ModuleLoader, RefusesAFileThatIsNotAModule) {
    ScratchDir dir;
    const auto path = dir / "nettool-http.so";
    {
        std::ofstream out(path);
        out << "not an ELF file\n";
    }
    auto loaded = load_module_file(path, NETTOOL_MODULE_KEY, ours());
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message.find("cannot load nettool's HTTP module " + path),
              std::string::npos)
        << loaded.error().message;
    EXPECT_NE(loaded.error().message.find("reinstall nettool"), std::string::npos);
}

TEST(ModuleLoader, RefusesAModuleOfAnotherBuild) {
    auto loaded = load_module_file(NETTOOL_TEST_FOREIGN_MODULE, NETTOOL_MODULE_KEY,
                                   like(NETTOOL_TEST_FOREIGN_MODULE));
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message.find("is from another build of nettool (build key "
                                          "another-build, this nettool's is " NETTOOL_MODULE_KEY),
              std::string::npos)
        << loaded.error().message;
}

TEST(ModuleLoader, RefusesAModuleOthersMayWrite) {
    ScratchDir dir;
    const auto path = dir / "nettool-http.so";
    copy_file(NETTOOL_TEST_MODULE, path, 0757);
    auto loaded = load_module_file(path, NETTOOL_MODULE_KEY, ours());
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message.find("refusing to load nettool's HTTP module " + path +
                                          ": anyone may write to it"),
              std::string::npos)
        << loaded.error().message;

    // Group-writable only where the binary is group-writable by the same group.
    ASSERT_EQ(::chmod(path.c_str(), 0775), 0);
    EXPECT_FALSE(load_module_file(path, NETTOOL_MODULE_KEY, ours()));
    TrustedOwner group_writable = ours();
    group_writable.mode = 0775;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    group_writable.gid = st.st_gid;
    EXPECT_TRUE(load_module_file(path, NETTOOL_MODULE_KEY, group_writable));
}

TEST(ModuleLoader, RefusesAModuleOfAnotherUser) {
    ScratchDir dir;
    const auto path = dir / "nettool-http.so";
    copy_file(NETTOOL_TEST_MODULE, path, 0755);
    TrustedOwner owner = ours();
    if (::geteuid() == 0) {
        // Root's files are trusted; give the copy to nobody instead.
        ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
    } else {
        owner.uid = ::geteuid() + 1; // the binary belongs to someone else
    }
    auto loaded = load_module_file(path, NETTOOL_MODULE_KEY, owner);
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message.find(": it belongs to user "), std::string::npos)
        << loaded.error().message;
}

TEST(ModuleLoader, RefusesADirectory) {
    ScratchDir dir;
    ASSERT_EQ(::mkdir((dir / "nettool-http.so").c_str(), 0755), 0);
    auto loaded = load_module_file(dir / "nettool-http.so", NETTOOL_MODULE_KEY, ours());
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message.find("it is not a regular file"), std::string::npos)
        << loaded.error().message;
}

} // namespace
