#include "scratch_dir.hpp"

#include <algorithm>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nettool/clean.hpp>
#include <nettool/part_meta.hpp>
#include <nettool/registry.hpp>
#include <nettool/temp_area.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
    std::vector<std::string> warnings;
    void on_item(const CleanItem& item) override { items.push_back(item); }
    void on_warning(const std::string& message) override { warnings.push_back(message); }
    const CleanItem* find(const std::string& path, CleanAction action) const {
        for (const auto& item : items)
            if (item.path == path && item.action == action) return &item;
        return nullptr;
    }
};

RegistryEntry entry_for(const AtomicOutput& out, std::int64_t time = std::time(nullptr)) {
    RegistryEntry entry;
    entry.name = out.name();
    entry.path = out.path();
    entry.device = out.identity().device;
    entry.inode = out.identity().inode;
    entry.birth_ns = out.identity().birth_ns;
    entry.url = "http://h/page.html";
    entry.time = time;
    entry.pid = static_cast<int>(::getpid());
    return entry;
}

// What retrieve does: create the .part unnamed, record it (in progress) and publish it under
// the registry's lock, write, rename, mark complete. Returns the output still open (its lock
// held) so the caller decides when the "process" ends.
AtomicOutput download(const TempArea& area, Registry& registry, const std::string& body,
                      bool finish = true, std::int64_t time = std::time(nullptr)) {
    auto out = area.create_output("page.html", [&](AtomicOutput& created) {
        return registry.add(entry_for(created, time), [&created] { return created.publish(); });
    });
    EXPECT_TRUE(out) << out.error().message;
    EXPECT_TRUE(out->write(std::span<const char>(body.data(), body.size())));
    if (finish) {
        EXPECT_TRUE(out->commit());
        EXPECT_TRUE(registry.mark_complete(out->name()));
    }
    return std::move(*out);
}

std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
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
