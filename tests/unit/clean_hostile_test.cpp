#include "clean_helpers.hpp"

#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <nettool/part_meta.hpp>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/sysmacros.h>

// clean against someone else's hand: forged registry entries, foreign sidecars, strange files
// where downloads were, a symlinked area.

using nettool::AtomicOutput;
using nettool::CleanAction;
using nettool::Registry;
using nettool::TempArea;
using nettool::test::Collector;
using nettool::test::download;
using nettool::test::exists;
using nettool::test::names_in;
using nettool::test::options_for;
using nettool::test::read_file;
using nettool::test::ScratchDir;
using nettool::test::write_file;

namespace {

// A line as a forger would write it: any name/path, with the identity of a real file.
std::string forged_line(const std::string& key, const std::string& value,
                        const std::string& victim) {
    struct statx stx {};
    EXPECT_EQ(::statx(AT_FDCWD, victim.c_str(), 0, STATX_BASIC_STATS | STATX_BTIME, &stx), 0);
    nlohmann::json j = {{key, value},
                        {"device", makedev(stx.stx_dev_major, stx.stx_dev_minor)},
                        {"inode", stx.stx_ino},
                        {"birth_ns", 0},
                        {"url", "http://forged/"},
                        {"time", 0},
                        {"state", "complete"},
                        {"pid", 1}};
    return j.dump() + "\n";
}

void append(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::app | std::ios::binary) << text;
}

} // namespace

// A registry edited by someone else: entries naming files outside the area (absolute paths,
// "..", names with '/'), the area's own files, and garbage. clean deletes nothing outside,
// reports and forgets the foreign entries, sets the damaged registry aside with a warning and
// still removes its own downloads.
TEST(Clean, ForgedEntriesTouchNothingOutsideTheArea) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    Registry registry(*area);
    const std::string own = download(*area, registry, "mine").path();
    const std::string victim = scratch / "victim.txt";
    write_file(victim, "precious");
    ASSERT_EQ(::mkdir((scratch / "area/sub").c_str(), 0700), 0);
    const std::string inner = scratch / "area/sub/inner.txt";
    write_file(inner, "in a subdirectory");
    const std::string reg = registry.path();
    append(reg, forged_line("path", victim, victim));                         // outside
    append(reg, forged_line("path", scratch / "area/../victim.txt", victim)); // AREA/..
    append(reg, forged_line("name", "../victim.txt", victim));                // .. as a name
    append(reg, forged_line("name", "sub/inner.txt", inner));                 // a '/' in it
    append(reg, forged_line("name", ".registry.lock", scratch / "area/.registry.lock"));
    append(reg, forged_line("path", scratch / "area/sub/inner.txt", inner)); // not directly in
    const std::string garbage = "{this is not json\n\x01\x02\xff garbage\n";
    append(reg, garbage);
    const std::string before = read_file(reg);

    Collector dry;
    auto options = options_for(*area);
    options.dry_run = true;
    ASSERT_TRUE(nettool::clean(options, dry));
    ASSERT_EQ(dry.warnings.size(), 1u);
    EXPECT_NE(dry.warnings[0].find("2 lines of the registry"), std::string::npos)
        << dry.warnings[0];
    EXPECT_EQ(read_file(reg), before); // --dry-run changes nothing, not even the registry

    Collector seen;
    auto summary = nettool::clean(options_for(*area), seen);
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(read_file(victim), "precious");
    EXPECT_EQ(read_file(inner), "in a subdirectory");
    EXPECT_TRUE(exists(scratch / "area/.registry.lock"));
    EXPECT_FALSE(exists(own));
    EXPECT_TRUE(seen.find(own, CleanAction::removed));
    EXPECT_EQ(summary->files, 1u);
    EXPECT_EQ(summary->foreign, 6u);
    std::size_t foreign_reports = 0;
    for (const auto& item : seen.items) {
        if (item.reason.find("does not name a file directly inside the temp area") !=
            std::string::npos) {
            ++foreign_reports;
            EXPECT_EQ(item.action, CleanAction::skipped);
        }
    }
    EXPECT_EQ(foreign_reports, 6u);
    // The damaged registry is kept aside, whole, under a dated name, and the user is told.
    ASSERT_EQ(seen.warnings.size(), 1u);
    EXPECT_NE(seen.warnings[0].find("had 2 damaged lines; it was set aside as "), std::string::npos)
        << seen.warnings[0];
    std::string aside;
    for (const auto& name : names_in(area->path()))
        if (name.rfind(".registry.jsonl.damaged-", 0) == 0) aside = area->path_of(name);
    ASSERT_FALSE(aside.empty());
    EXPECT_EQ(read_file(aside), before);
    EXPECT_NE(seen.warnings[0].find(aside), std::string::npos);
    // The foreign entries are forgotten; the registry is not emptied blindly, only of them.
    auto left = registry.load();
    ASSERT_TRUE(left);
    EXPECT_TRUE(left->entries.empty());
    EXPECT_EQ(left->damaged_lines, 0u);
    // A second clean finds nothing more to set aside.
    Collector again;
    ASSERT_TRUE(nettool::clean(options_for(*area), again));
    EXPECT_TRUE(again.warnings.empty());
}

// NAME.part.meta goes with its download only when it says it describes that .part.
TEST(Clean, SidecarsAreRemovedOnlyWhenTheyAreTheDownloads) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    Registry registry(*area);
    auto meta_of = [](const AtomicOutput& out) {
        nettool::PartMeta meta;
        meta.url = "http://h/page.html";
        meta.part = out.identity();
        return meta;
    };
    std::string ours, linked, foreign, legacy;
    const std::string outside = scratch / "outside.txt";
    write_file(outside, "outside");
    {
        AtomicOutput a = download(*area, registry, "a", false);
        ASSERT_TRUE(nettool::write_part_meta(a.part_path(), meta_of(a)));
        ours = a.path();
        AtomicOutput b = download(*area, registry, "b", false);
        ASSERT_EQ(::symlink(outside.c_str(), (b.part_path() + ".meta").c_str()), 0);
        linked = b.path();
        AtomicOutput c = download(*area, registry, "c", false);
        auto other = meta_of(c);
        other.part.inode += 1;
        ASSERT_TRUE(nettool::write_part_meta(c.part_path(), other));
        foreign = c.path();
        AtomicOutput d = download(*area, registry, "d", false);
        write_file(d.part_path() + ".meta", R"({"url":"http://h/page.html"})");
        legacy = d.path();
    } // every "process" died: the .parts are left, unlocked

    Collector seen;
    auto summary = nettool::clean(options_for(*area), seen);
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(summary->files, 4u); // the four .parts
    EXPECT_FALSE(exists(ours + ".part.meta"));
    EXPECT_EQ(read_file(outside), "outside");
    EXPECT_TRUE(exists(linked + ".part.meta"));
    ASSERT_TRUE(seen.find(linked + ".part.meta", CleanAction::skipped));
    EXPECT_NE(seen.find(linked + ".part.meta", CleanAction::skipped)->reason.find("symbolic link"),
              std::string::npos);
    EXPECT_TRUE(exists(foreign + ".part.meta"));
    EXPECT_NE(
        seen.find(foreign + ".part.meta", CleanAction::skipped)->reason.find("another download"),
        std::string::npos);
    EXPECT_TRUE(exists(legacy + ".part.meta"));
    EXPECT_NE(
        seen.find(legacy + ".part.meta", CleanAction::skipped)->reason.find("does not record"),
        std::string::npos);
}

// Whatever sits where a download was (a FIFO, a directory, a symlink to a device) is reported,
// never opened: clean must not hang or touch it.
TEST(Clean, StrangeFilesWhereADownloadWasAreLeftAlone) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    Registry registry(*area);
    std::string fifo, dir;
    {
        AtomicOutput a = download(*area, registry, "a", false);
        fifo = a.part_path();
        AtomicOutput b = download(*area, registry, "b", false);
        dir = b.part_path();
    }
    ASSERT_EQ(::unlink(fifo.c_str()), 0);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    ASSERT_EQ(::unlink(dir.c_str()), 0);
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    Collector seen;
    auto summary = nettool::clean(options_for(*area), seen);
    ASSERT_TRUE(summary);
    EXPECT_EQ(summary->files, 0u);
    struct stat st {};
    ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_TRUE(seen.find(fifo, CleanAction::skipped));
    EXPECT_TRUE(seen.find(dir, CleanAction::skipped));
}

// An area reached through a symbolic link, with or without a trailing slash, is refused.
TEST(Clean, RefusesASymlinkedAreaEvenWithATrailingSlash) {
    ScratchDir scratch;
    auto real = TempArea::open(scratch / "real");
    ASSERT_TRUE(real);
    Registry registry(*real);
    const std::string kept = download(*real, registry, "kept").path();
    ASSERT_EQ(::symlink((scratch / "real").c_str(), (scratch / "link").c_str()), 0);
    for (const std::string& area : {scratch / "link", scratch / "link/", scratch / "link//"}) {
        nettool::CleanOptions options;
        options.area = area;
        Collector seen;
        auto summary = nettool::clean(options, seen);
        ASSERT_FALSE(summary) << area;
        EXPECT_NE(summary.error().message.find("is a symbolic link"), std::string::npos)
            << summary.error().message;
        EXPECT_TRUE(exists(kept));
    }
}
