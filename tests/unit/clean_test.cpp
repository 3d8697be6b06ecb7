#include "scratch_dir.hpp"

#include <ctime>
#include <fstream>
#include <gtest/gtest.h>
#include <nettool/clean.hpp>
#include <nettool/registry.hpp>
#include <nettool/temp_area.hpp>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using nettool::AtomicOutput;
using nettool::CleanAction;
using nettool::CleanItem;
using nettool::DownloadState;
using nettool::Registry;
using nettool::RegistryEntry;
using nettool::TempArea;
using nettool::test::exists;
using nettool::test::read_file;
using nettool::test::ScratchDir;
using nettool::test::write_file;

namespace {

struct Collector : nettool::CleanObserver {
    std::vector<CleanItem> items;
    void on_item(const CleanItem& item) override { items.push_back(item); }
    const CleanItem* find(const std::string& path, CleanAction action) const {
        for (const auto& item : items)
            if (item.path == path && item.action == action) return &item;
        return nullptr;
    }
};

// What retrieve does: create the .part, record it (in progress), write, rename, mark complete.
// Returns the output still open (its lock held) so the caller decides when the "process" ends.
AtomicOutput download(const TempArea& area, Registry& registry, const std::string& body,
                      bool finish = true, std::int64_t time = std::time(nullptr)) {
    auto out = area.create_output("page.html");
    EXPECT_TRUE(out) << out.error().message;
    RegistryEntry entry{out->path(),
                        out->device(),
                        out->inode(),
                        nettool::birth_time_ns(out->fd()),
                        "http://h/page.html",
                        time,
                        DownloadState::in_progress,
                        static_cast<int>(::getpid())};
    EXPECT_TRUE(registry.add(entry));
    EXPECT_TRUE(out->write(std::span<const char>(body.data(), body.size())));
    if (finish) {
        EXPECT_TRUE(out->commit());
        EXPECT_TRUE(registry.mark_complete(out->path()));
    }
    return std::move(*out);
}

nettool::CleanOptions options_for(const TempArea& area) {
    nettool::CleanOptions options;
    options.area = area.path();
    return options;
}

} // namespace

TEST(Registry, AddsMarksAndReloadsEntries) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    Registry registry(*area);
    ASSERT_TRUE(registry.add(
        RegistryEntry{"/a", 1, 2, 0, "http://x/a", 10, DownloadState::in_progress, 7}));
    ASSERT_TRUE(registry.add(
        RegistryEntry{"/b", 3, 4, 0, "http://x/b", 11, DownloadState::in_progress, 8}));
    ASSERT_TRUE(registry.mark_complete("/b"));
    auto entries = registry.load();
    ASSERT_TRUE(entries);
    ASSERT_EQ(entries->size(), 2u);
    EXPECT_EQ((*entries)[0].path, "/a");
    EXPECT_EQ((*entries)[0].state, DownloadState::in_progress);
    EXPECT_EQ((*entries)[1].inode, 4u);
    EXPECT_EQ((*entries)[1].state, DownloadState::complete);
    EXPECT_EQ((*entries)[1].pid, 8);
    struct stat st {};
    ASSERT_EQ(::stat(registry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // A damaged line is skipped, the rest survives.
    std::ofstream(registry.path(), std::ios::app) << "{garbage\n";
    auto reloaded = registry.load();
    ASSERT_TRUE(reloaded);
    EXPECT_EQ(reloaded->size(), 2u);
}

TEST(Clean, RemovesOnlyWhatRetrieveSavedAndReportsTheRest) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    Registry registry(*area);

    const std::string done_path = download(*area, registry, "0123456789").path();
    const std::string replaced_path = download(*area, registry, "original").path();
    const std::string linked_path = download(*area, registry, "original").path();
    AtomicOutput running = download(*area, registry, "partial", false);
    std::string dead_path;
    {
        AtomicOutput dead = download(*area, registry, "half", false);
        dead_path = dead.path();
    } // the "process" died: its lock is gone, its .part remains
    const std::string vanished_path = download(*area, registry, "x").path();

    // The user replaced one download and turned another into a symlink to a file outside.
    // (Written beside it, then renamed over it: the inode number cannot be recycled.)
    write_file(scratch / "mine", "the user's own file");
    ASSERT_EQ(::rename((scratch / "mine").c_str(), replaced_path.c_str()), 0);
    const std::string outside = scratch / "outside.txt";
    write_file(outside, "outside");
    ASSERT_EQ(::unlink(linked_path.c_str()), 0);
    ASSERT_EQ(::symlink(outside.c_str(), linked_path.c_str()), 0);
    ASSERT_EQ(::unlink(vanished_path.c_str()), 0);

    // --list and --dry-run change nothing.
    Collector listed;
    auto options = options_for(*area);
    options.list_only = true;
    ASSERT_TRUE(nettool::clean(options, listed));
    EXPECT_EQ(listed.items.size(), 6u);
    ASSERT_TRUE(listed.find(running.path(), CleanAction::listed));
    EXPECT_TRUE(listed.find(running.path(), CleanAction::listed)->alive);
    EXPECT_EQ(listed.find(done_path, CleanAction::listed)->bytes, 10u);
    Collector dry;
    options = options_for(*area);
    options.dry_run = true;
    auto dry_summary = nettool::clean(options, dry);
    ASSERT_TRUE(dry_summary);
    EXPECT_EQ(dry_summary->files, 2u);
    EXPECT_TRUE(exists(done_path));

    Collector seen;
    auto summary = nettool::clean(options_for(*area), seen);
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_FALSE(exists(done_path));
    EXPECT_FALSE(exists(dead_path + ".part"));
    EXPECT_TRUE(seen.find(done_path, CleanAction::removed));
    EXPECT_TRUE(seen.find(dead_path + ".part", CleanAction::removed));
    EXPECT_EQ(summary->files, 2u);
    EXPECT_EQ(summary->bytes, 14u); // "0123456789" + "half"

    EXPECT_EQ(read_file(replaced_path), "the user's own file");
    ASSERT_TRUE(seen.find(replaced_path, CleanAction::skipped));
    EXPECT_NE(seen.find(replaced_path, CleanAction::skipped)->reason.find("another file"),
              std::string::npos);

    EXPECT_EQ(read_file(outside), "outside");
    struct stat st {};
    EXPECT_EQ(::lstat(linked_path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    ASSERT_TRUE(seen.find(linked_path, CleanAction::skipped));
    EXPECT_NE(seen.find(linked_path, CleanAction::skipped)->reason.find("symbolic link"),
              std::string::npos);

    EXPECT_TRUE(exists(running.part_path()));
    ASSERT_TRUE(seen.find(running.path(), CleanAction::skipped));
    EXPECT_NE(seen.find(running.path(), CleanAction::skipped)->reason.find("in progress"),
              std::string::npos);
    EXPECT_TRUE(seen.find(vanished_path, CleanAction::vanished));

    // Only the live download stays recorded; once it ends, the next clean removes its leftover.
    auto left = registry.load();
    ASSERT_TRUE(left);
    ASSERT_EQ(left->size(), 1u);
    EXPECT_EQ(left->front().path, running.path());
    running.close();
    Collector again;
    auto second = nettool::clean(options_for(*area), again);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->files, 1u);
    EXPECT_FALSE(exists(running.part_path()));
    Collector empty;
    auto third = nettool::clean(options_for(*area), empty);
    ASSERT_TRUE(third);
    EXPECT_EQ(third->entries, 0u);
    EXPECT_TRUE(empty.items.empty());
}

TEST(Clean, OlderThanKeepsRecentDownloads) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    Registry registry(*area);
    const std::string old_path =
        download(*area, registry, "old", true, std::time(nullptr) - 7200).path();
    const std::string new_path = download(*area, registry, "new").path();
    auto options = options_for(*area);
    options.older_than = std::chrono::hours(1);
    Collector seen;
    auto summary = nettool::clean(options, seen);
    ASSERT_TRUE(summary);
    EXPECT_FALSE(exists(old_path));
    EXPECT_TRUE(exists(new_path));
    EXPECT_TRUE(seen.find(new_path, CleanAction::too_new));
}

TEST(Clean, AMissingAreaIsNothingToClean) {
    ScratchDir scratch;
    nettool::CleanOptions options;
    options.area = scratch / "never";
    Collector seen;
    auto summary = nettool::clean(options, seen);
    ASSERT_TRUE(summary);
    EXPECT_EQ(summary->entries, 0u);
    EXPECT_FALSE(exists(options.area)); // clean does not create it
}

// Two processes download (record entries) while a third cleans: every entry added is either
// still recorded with its file present, or was removed together with its file by the cleaner.
TEST(Registry, ConcurrentWritersAndACleanerLoseNothing) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    constexpr int k_per_writer = 40;
    std::vector<pid_t> children;
    for (const char* name : {"a", "b"}) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            Registry registry(*area);
            std::ofstream added(scratch / (std::string("added-") + name));
            for (int i = 0; i < k_per_writer; ++i) {
                AtomicOutput out = download(*area, registry, "body");
                added << out.path() << "\n" << std::flush;
            }
            ::_exit(::testing::Test::HasFailure() ? 1 : 0);
        }
        children.push_back(child);
    }
    const pid_t cleaner = ::fork();
    ASSERT_GE(cleaner, 0);
    if (cleaner == 0) {
        std::ofstream removed(scratch / "removed");
        for (int round = 0; round < 30; ++round) {
            Collector seen;
            if (!nettool::clean(options_for(*area), seen)) ::_exit(2);
            for (const auto& item : seen.items) {
                if (item.action == CleanAction::removed) removed << item.path << "\n";
                if (item.action == CleanAction::skipped &&
                    item.reason.find("in progress") == std::string::npos) {
                    ::_exit(3); // nothing else may be skipped here
                }
            }
            removed << std::flush;
        }
        ::_exit(0);
    }
    children.push_back(cleaner);
    for (const pid_t child : children) {
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0) << "child " << child;
    }
    auto read_lines = [](const std::string& path) {
        std::set<std::string> lines;
        std::ifstream in(path);
        for (std::string line; std::getline(in, line);)
            lines.insert(line);
        return lines;
    };
    std::set<std::string> added = read_lines(scratch / "added-a");
    for (const auto& p : read_lines(scratch / "added-b"))
        added.insert(p);
    const std::set<std::string> removed = read_lines(scratch / "removed");
    ASSERT_EQ(added.size(), 2u * k_per_writer);
    auto entries = Registry(*area).load();
    ASSERT_TRUE(entries);
    std::set<std::string> recorded;
    for (const auto& e : *entries)
        recorded.insert(e.path);
    std::size_t still_there = 0;
    std::size_t cleaned = 0;
    for (const auto& path : added) {
        const bool is_recorded = recorded.count(path) != 0;
        const bool was_removed = removed.count(path) != 0;
        EXPECT_NE(is_recorded, was_removed) << path; // exactly one of the two
        EXPECT_EQ(exists(path), is_recorded) << path;
        still_there += is_recorded;
        cleaned += was_removed;
    }
    EXPECT_EQ(still_there + cleaned, added.size());
    EXPECT_EQ(recorded.size(), still_there); // nothing recorded that nobody added
    RecordProperty("cleaned", static_cast<int>(cleaned));
    RecordProperty("recorded", static_cast<int>(still_there));
}
