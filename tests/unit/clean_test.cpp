#include "clean_helpers.hpp"

#include <fstream>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>

using nettool::AtomicOutput;
using nettool::CleanAction;
using nettool::CleanItem;
using nettool::DownloadState;
using nettool::Registry;
using nettool::RegistryEntry;
using nettool::TempArea;
using nettool::test::Collector;
using nettool::test::download;
using nettool::test::exists;
using nettool::test::options_for;
using nettool::test::read_file;
using nettool::test::ScratchDir;
using nettool::test::write_file;

TEST(Registry, AddsMarksAndReloadsEntries) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    std::vector<std::string> warnings;
    Registry registry(*area, [&](const std::string& w) { warnings.push_back(w); });
    RegistryEntry a;
    a.name = "a";
    a.device = 1;
    a.inode = 2;
    a.url = "http://x/a";
    a.pid = 7;
    RegistryEntry b = a;
    b.name = "b";
    b.inode = 4;
    b.pid = 8;
    ASSERT_TRUE(registry.add(a));
    ASSERT_TRUE(registry.add(b));
    ASSERT_TRUE(registry.mark_complete("b"));
    auto loaded = registry.load();
    ASSERT_TRUE(loaded);
    const auto& entries = loaded->entries;
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].name, "a");
    EXPECT_EQ(entries[0].state, DownloadState::in_progress);
    EXPECT_EQ(entries[1].inode, 4u);
    EXPECT_EQ(entries[1].state, DownloadState::complete);
    EXPECT_EQ(entries[1].pid, 8);
    EXPECT_EQ(loaded->damaged_lines, 0u);
    struct stat st {};
    ASSERT_EQ(::stat(registry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_TRUE(registry.forget("a"));
    auto after = registry.load();
    ASSERT_TRUE(after);
    ASSERT_EQ(after->entries.size(), 1u);
    EXPECT_EQ(after->entries[0].name, "b");
    EXPECT_TRUE(warnings.empty());
}

TEST(Registry, AFailedPublishTakesTheEntryOutAgain) {
    ScratchDir scratch;
    auto area = TempArea::open(scratch / "area");
    ASSERT_TRUE(area);
    Registry registry(*area);
    RegistryEntry entry;
    entry.name = "x";
    entry.inode = 1;
    bool published = false;
    auto added = registry.add(entry, [&]() -> nettool::Status {
        auto seen = registry.path(); // the entry is on disk while publish runs
        EXPECT_NE(read_file(seen).find("\"name\":\"x\""), std::string::npos);
        published = true;
        return nettool::fail(nettool::ErrorKind::file_io, "no room");
    });
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().message, "no room");
    EXPECT_TRUE(published);
    auto loaded = registry.load();
    ASSERT_TRUE(loaded);
    EXPECT_TRUE(loaded->entries.empty());
}

TEST(Registry, ParsesOnlyWholeEntries) {
    using nettool::parse_registry_line;
    EXPECT_FALSE(parse_registry_line(""));
    EXPECT_FALSE(parse_registry_line("{garbage"));
    EXPECT_FALSE(parse_registry_line("[1,2,3]"));
    EXPECT_FALSE(parse_registry_line(R"({"name":"a"})"));           // no identity
    EXPECT_FALSE(parse_registry_line(R"({"device":1,"inode":2})")); // names nothing
    EXPECT_FALSE(parse_registry_line(R"({"name":3,"device":1,"inode":2})"));
    EXPECT_FALSE(parse_registry_line("{\"name\":\"\xff\",\"device\":1,\"inode\":2}"));
    auto legacy = parse_registry_line(R"({"path":"/a/b","device":1,"inode":2})");
    ASSERT_TRUE(legacy);
    EXPECT_EQ(nettool::download_name(*legacy, "/a"), "b");
    EXPECT_EQ(nettool::download_name(*legacy, "/elsewhere"), "");
    auto doubled = parse_registry_line(R"({"path":"/a//b","device":1,"inode":2})");
    ASSERT_TRUE(doubled);
    EXPECT_EQ(nettool::download_name(*doubled, "/a"), "b");
    auto escaping = parse_registry_line(R"({"path":"/a/../b","device":1,"inode":2})");
    ASSERT_TRUE(escaping);
    EXPECT_EQ(nettool::download_name(*escaping, "/a"), "");
    auto modern = parse_registry_line(R"({"name":"n","path":"/etc/passwd","device":1,"inode":2})");
    ASSERT_TRUE(modern);
    EXPECT_EQ(nettool::download_name(*modern, "/a"), "n"); // the name decides, not the path
}

TEST(TempAreaNames, OnlyPlainNamesDirectlyInside) {
    using nettool::is_download_name;
    EXPECT_TRUE(is_download_name("page-Xa81Qz.html"));
    EXPECT_TRUE(is_download_name("a b"));
    EXPECT_FALSE(is_download_name(""));
    EXPECT_FALSE(is_download_name("."));
    EXPECT_FALSE(is_download_name(".."));
    EXPECT_FALSE(is_download_name("../x"));
    EXPECT_FALSE(is_download_name("a/b"));
    EXPECT_FALSE(is_download_name("/etc/passwd"));
    EXPECT_FALSE(is_download_name(".registry.jsonl"));
    EXPECT_FALSE(is_download_name(".registry.lock"));
    EXPECT_FALSE(is_download_name(std::string("a\0b", 3)));
    EXPECT_FALSE(is_download_name(std::string(256, 'a')));
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
    EXPECT_TRUE(seen.warnings.empty());
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
    ASSERT_EQ(left->entries.size(), 1u);
    EXPECT_EQ(left->entries.front().path, running.path());
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
    for (const auto& e : entries->entries)
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
