// retrieve's progress display: the lines (progress_layout.hpp) never as wide as the terminal,
// names shortened in the middle, the block's composition and its control sequences, the
// block itself (progress_block.hpp) over a recorded terminal: what it writes around a result
// line, and the width it follows after a resize; and the terminal's size and SIGWINCH
// (terminal.hpp).
#include "escape.hpp"
#include "progress_block.hpp"
#include "progress_layout.hpp"
#include "terminal.hpp"

#include <cctype>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

using namespace nettool::cli;

namespace {

// `written` without the control sequences the block writes (CSI, digits, then A, J or K): any
// other escape byte stays, for the tests to find.
// (No std::regex: GCC 12 warns inside it under the sanitizers.)
std::string without_sequences(const std::string& written) {
    std::string plain;
    for (std::size_t i = 0; i < written.size(); ++i) {
        if (written[i] == '\x1b' && i + 1 < written.size() && written[i + 1] == '[') {
            std::size_t end = i + 2;
            while (end < written.size() &&
                   (std::isdigit(static_cast<unsigned char>(written[end])) || written[end] == ';'))
                ++end;
            if (end < written.size() &&
                std::string_view("AJK").find(written[end]) != std::string_view::npos) {
                i = end;
                continue;
            }
        }
        plain += written[i];
    }
    return plain;
}

// The lines a terminal would show for `written`: control sequences removed, split at CR and LF.
std::vector<std::string> shown_lines(const std::string& written) {
    std::vector<std::string> lines;
    std::string line;
    for (const char c : without_sequences(written)) {
        if (c == '\r' || c == '\n') {
            lines.push_back(std::exchange(line, {}));
        } else {
            line += c;
        }
    }
    lines.push_back(line);
    return lines;
}

const std::vector<std::string> k_names = {
    "a",
    "linux-6.1.12-with-a-very-long-release-name.tar.xz",
    "caf\xc3\xa9-\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9.bin",
    // wide characters: two columns each
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5\xe6\x9c"
    "\xac\xe8\xaa\x9e.txt",
    escape_for_terminal("evil\x1b]0;title\x07name"),
};

} // namespace

TEST(ProgressLayout, ElideMiddleKeepsBothEnds) {
    EXPECT_EQ(elide_middle("short.txt", 20), "short.txt");
    EXPECT_EQ(elide_middle("abcdefghijklmnopqrstuvwxyz", 10), "abc...wxyz");
    EXPECT_EQ(elide_middle("abcdefghijklmnopqrstuvwxyz", 4), "wxyz"); // too narrow: the end
    EXPECT_EQ(elide_middle("abc", 0), "");
    // Never inside a UTF-8 sequence, wide characters counted as two columns.
    EXPECT_EQ(elide_middle("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 7),
              "\xc3\xa9\xc3\xa9...\xc3\xa9\xc3\xa9");
    EXPECT_EQ(elide_middle("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5\xe6\x9c\xac", 7),
              "\xe6\x97\xa5...\xe6\x9c\xac");
    for (const auto& name : k_names) {
        for (std::size_t width = 0; width < 60; ++width)
            EXPECT_LE(terminal_columns(elide_middle(name, width)), width) << name << " " << width;
    }
}

TEST(ProgressLayout, ShownNameIsTheEscapedBaseName) {
    EXPECT_EQ(shown_name("/tmp/area/x/data.bin"), "data.bin");
    EXPECT_EQ(shown_name("data.bin"), "data.bin");
    EXPECT_EQ(shown_name("d/evil\x1b[2J.bin"), "evil\\x1b[2J.bin");
}

TEST(ProgressLayout, WideCharactersTakeTwoColumns) {
    EXPECT_EQ(terminal_columns("abc"), 3u);
    EXPECT_EQ(terminal_columns("\xc3\xa9"), 1u);
    EXPECT_EQ(terminal_columns("\xe6\x97\xa5\xe6\x9c\xac"), 4u);
    EXPECT_EQ(terminal_columns("\xf0\x9f\x98\x80"), 2u); // an emoji
    EXPECT_EQ(clip_columns("\xe6\x97\xa5\xe6\x9c\xac", 3), "\xe6\x97\xa5");
}

TEST(ProgressLayout, EveryLineIsNarrowerThanTheTerminal) {
    const std::vector<TransferView> transfers = {
        {"x", 0, std::nullopt, std::nullopt},
        {"data.bin", 512, 1024, 2048.0},
        {"huge.iso", 1'099'511'627'775ull, 1'099'511'627'776ull, 1e12},
        {"stream", 123'456'789, std::nullopt, 5e6},
    };
    for (std::size_t columns = 0; columns <= 160; ++columns) {
        const std::size_t widest = columns > 0 ? columns - 1 : 0;
        for (const auto& name : k_names) {
            for (auto transfer : transfers) {
                transfer.name = name;
                EXPECT_LE(terminal_columns(transfer_line(transfer, columns)), widest)
                    << name << " at " << columns;
            }
            for (const bool final : {false, true}) {
                const BarView bar{name, 300, 1000, 1e6, 12.5, final};
                EXPECT_LE(terminal_columns(bar_line(bar, columns)), widest)
                    << name << " at " << columns;
            }
            EXPECT_LE(terminal_columns(summary_line(name, 1 << 30, 75.0, 1e7, columns)), widest);
        }
        EXPECT_LE(terminal_columns(total_line({3, 1000, 12, 1ull << 40, 3e9}, columns)), widest);
    }
}

TEST(ProgressLayout, TransferLineShowsPercentOrBytesAndSpeed) {
    const std::string known = transfer_line({"data.bin", 512, 1024, 2048.0}, 60);
    EXPECT_EQ(known.rfind("data.bin", 0), 0u) << known;
    EXPECT_NE(known.find(" 50%"), std::string::npos) << known;
    EXPECT_NE(known.find("512 B"), std::string::npos) << known;
    EXPECT_NE(known.find("2.0 KiB/s"), std::string::npos) << known;
    EXPECT_EQ(terminal_columns(known), 59u); // padded: the columns of the block align

    const std::string unknown = transfer_line({"stream", 3 << 20, std::nullopt, std::nullopt}, 60);
    EXPECT_NE(unknown.find("3.0 MiB"), std::string::npos) << unknown;
    EXPECT_EQ(unknown.find('%'), std::string::npos) << unknown;
    EXPECT_NE(unknown.find("--/s"), std::string::npos) << unknown;

    // Narrower: the bytes go first, then the speed; the name keeps 8 columns at least.
    const std::string narrow = transfer_line({"linux-6.1.12.tar.xz", 512, 1024, 2048.0}, 30);
    EXPECT_NE(narrow.find("50%"), std::string::npos) << narrow;
    EXPECT_NE(narrow.find("KiB/s"), std::string::npos) << narrow;
    EXPECT_EQ(narrow.find("512 B"), std::string::npos) << narrow;
    EXPECT_NE(narrow.find("..."), std::string::npos) << narrow;
    const std::string tiny = transfer_line({"linux-6.1.12.tar.xz", 512, 1024, 2048.0}, 16);
    EXPECT_EQ(tiny.find("KiB/s"), std::string::npos) << tiny;
    EXPECT_NE(tiny.find("50%"), std::string::npos) << tiny;
}

TEST(ProgressLayout, TotalLineCountsFilesBytesAndSpeed) {
    const std::string line = total_line({3, 8, 1, 5 << 20, 1048576.0}, 80);
    EXPECT_EQ(line.rfind("total 3/8 files (1 failed)", 0), 0u) << line;
    EXPECT_NE(line.find("5.0 MiB"), std::string::npos) << line;
    EXPECT_NE(line.find("1.0 MiB/s"), std::string::npos) << line;
    EXPECT_EQ(total_line({3, 8, 0, 0, std::nullopt}, 80).find("failed"), std::string::npos);
    EXPECT_EQ(total_line({8, 8, 1, 0, std::nullopt, 7}, 80)
                  .rfind("total 8/8 files (1 failed, 7 interrupted)", 0),
              0u);
    EXPECT_EQ(
        total_line({8, 8, 0, 0, std::nullopt, 7}, 80).rfind("total 8/8 files (7 interrupted)", 0),
        0u);
    // Narrow: the bytes, then the speed make way for the counts, which are cut last.
    const std::string forty = total_line({6, 6, 0, 5 << 20, 1048576.0}, 40);
    EXPECT_EQ(forty.rfind("total 6/6 files", 0), 0u) << forty;
    EXPECT_NE(forty.find("1.0 MiB/s"), std::string::npos) << forty;
    EXPECT_EQ(forty.find("5.0 MiB"), std::string::npos) << forty;
    EXPECT_EQ(total_line({6, 6, 0, 5 << 20, 1048576.0}, 20), "total 6/6 files    ");
    EXPECT_EQ(total_line({6, 6, 0, 5 << 20, 1048576.0}, 10), "6/6 files");
    EXPECT_EQ(total_line({4, 4, 1, 5 << 20, 1048576.0, 3}, 40)
                  .rfind("4/4 files, 1 failed, 3 interrupted", 0),
              0u);
    EXPECT_EQ(total_line({4, 4, 1, 5 << 20, 1048576.0, 3}, 12), "4/4 files, ");
}

TEST(ProgressLayout, BlockHasALinePerDownloadAndATotal) {
    std::vector<TransferView> active;
    for (int i = 0; i < 30; ++i)
        active.push_back({"file" + std::to_string(i), 10, 100, 1.0});
    const TotalView total{2, 40, 0, 300, 10.0};

    const auto three = compose_block({active.begin(), active.begin() + 3}, total, 60, 24);
    ASSERT_EQ(three.size(), 4u);
    EXPECT_EQ(three[0].rfind("file0", 0), 0u);
    EXPECT_EQ(three[2].rfind("file2", 0), 0u);
    EXPECT_EQ(three[3].rfind("total 2/40 files", 0), 0u);

    // 10 rows: 8 lines at most, the last download line says how many are not shown.
    const auto many = compose_block(active, total, 60, 10);
    ASSERT_EQ(many.size(), 8u);
    EXPECT_EQ(many[5].rfind("file5", 0), 0u);
    EXPECT_EQ(many[6], "+24 more");
    EXPECT_EQ(many[7].rfind("total", 0), 0u);

    // Exactly as many as fit: no "+K more".
    const auto exact = compose_block({active.begin(), active.begin() + 7}, total, 60, 10);
    ASSERT_EQ(exact.size(), 8u);
    EXPECT_EQ(exact[6].rfind("file6", 0), 0u);

    // Very few rows: the total alone, or the count of downloads and the total.
    EXPECT_EQ(compose_block(active, total, 60, 3).size(), 1u);
    const auto two = compose_block(active, total, 60, 4);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0], "+30 more");
    EXPECT_TRUE(compose_block({}, total, 60, 24).size() == 1);
    // Every line of a block fits, however narrow.
    for (std::size_t columns = 1; columns < 70; ++columns) {
        for (const auto& line : compose_block(active, total, columns, 10))
            EXPECT_LT(terminal_columns(line), columns) << line;
    }
}

TEST(ProgressLayout, BarDropsWhatDoesNotFit) {
    const BarView bar{"data.bin", 500, 1000, 1e6, 1.0, false};
    const std::string wide = bar_line(bar, 100);
    EXPECT_EQ(terminal_columns(wide), 99u) << wide;
    EXPECT_NE(wide.find('['), std::string::npos);
    EXPECT_NE(wide.find("ETA"), std::string::npos);
    EXPECT_NE(wide.find(" 50%"), std::string::npos);
    // 40 columns (the width that used to get a 78-column bar): a bar, the percent, the speed.
    const std::string forty = bar_line(bar, 40);
    EXPECT_LE(terminal_columns(forty), 39u) << forty;
    EXPECT_NE(forty.find('['), std::string::npos) << forty;
    EXPECT_NE(forty.find("50%"), std::string::npos) << forty;
    EXPECT_EQ(forty.find("ETA"), std::string::npos) << forty;
    const std::string twenty = bar_line(bar, 20);
    EXPECT_EQ(twenty.find('['), std::string::npos) << twenty;
    EXPECT_NE(twenty.find("50%"), std::string::npos) << twenty;
    EXPECT_EQ(bar_line(bar, 6), " 50%");
    const std::string done = bar_line({"data.bin", 1000, 1000, 1e6, 12.5, true}, 100);
    EXPECT_NE(done.find("100%"), std::string::npos) << done;
    EXPECT_NE(done.find("in   12.5s"), std::string::npos) << done;
}

TEST(ProgressLayout, SummaryOfAnUnknownSize) {
    const std::string line = summary_line("stream.bin", 3 << 20, 2.0, 1572864.0, 80);
    EXPECT_EQ(line, "stream.bin  3.0 MiB in 2.0s, 1.5 MiB/s");
    EXPECT_EQ(summary_line("s", 10, 75.0, 0.1, 80), "s  10 B in 1:15, 0 B/s");
    // Narrow: the name gives way to the numbers.
    EXPECT_EQ(summary_line("stream.bin", 3 << 20, 2.0, 1572864.0, 35),
              "s...in  3.0 MiB in 2.0s, 1.5 MiB/s");
    EXPECT_EQ(summary_line("stream.bin", 3 << 20, 2.0, 1572864.0, 20), "3.0 MiB in 2.0s, 1.");
}

TEST(ProgressLayout, FramesRedrawInPlace) {
    const std::string first = block_frame({"a", "total"}, 0);
    EXPECT_EQ(first, "\ra\x1b[K\n\rtotal\x1b[K\n\x1b[J");
    const std::string next = block_frame({"b", "total"}, 2);
    EXPECT_EQ(next.rfind("\x1b[2A", 0), 0u); // back over the two lines, then overwrite
    EXPECT_EQ(block_erase(0), "");
    EXPECT_EQ(block_erase(3), "\x1b[3A\r\x1b[J");
}

TEST(ProgressLayout, RateFollowsTheRecentBytes) {
    using Clock = RateMeter::Clock;
    const auto t0 = Clock::time_point{} + std::chrono::hours(1);
    RateMeter meter;
    EXPECT_FALSE(meter.rate(t0));
    meter.add(t0, 0);
    meter.add(t0 + std::chrono::milliseconds(100), 100);
    EXPECT_FALSE(meter.rate(t0 + std::chrono::milliseconds(100))); // too soon to say
    for (int i = 2; i <= 50; ++i)
        meter.add(t0 + std::chrono::milliseconds(100 * i), 1000u * static_cast<unsigned>(i));
    const auto now = t0 + std::chrono::seconds(5);
    ASSERT_TRUE(meter.rate(now));
    EXPECT_NEAR(*meter.rate(now), 10000.0, 500.0); // 1000 bytes a tenth of a second
    // Stalled: the speed falls instead of staying at the old one.
    EXPECT_LT(*meter.rate(now + std::chrono::seconds(10)), 3000.0);
    // A count that goes back starts the measure again.
    meter.add(now, 10);
    EXPECT_FALSE(meter.rate(now));
}

namespace {

// A terminal that records what the block writes, its size set by the test.
struct RecordedTerminal {
    std::vector<std::string> writes;
    TerminalSize size{60, 24};
    bool resized = false;

    BlockTerminal terminal() {
        return {[this](std::string_view text) { writes.emplace_back(text); },
                [this] { return size; }, [this] { return std::exchange(resized, false); }};
    }
    std::string all() const {
        std::string text;
        for (const auto& w : writes)
            text += w;
        return text;
    }
};

} // namespace

TEST(ProgressBlock, ResultLinesNeverLandInsideTheBlock) {
    RecordedTerminal recorded;
    const OutputOptions output;
    ProgressBlock block(3, output, recorded.terminal());
    block.observer_for(0).on_start("dir/first.bin", 1000, 0);
    ASSERT_EQ(recorded.writes.size(), 1u); // the first frame: no waiting for the first one
    EXPECT_EQ(shown_lines(recorded.writes[0])[1].rfind("first.bin", 0), 0u);
    EXPECT_NE(recorded.writes[0].find("total 0/3 files"), std::string::npos);
    block.observer_for(0).on_progress(500, 1000); // within a tenth of a second: no frame
    EXPECT_EQ(recorded.writes.size(), 1u);

    std::vector<std::string> at_print;
    block.print_above(true, [&] { at_print = recorded.writes; });
    // Before the result: the two lines of the block are taken away.
    ASSERT_EQ(at_print.size(), 2u);
    EXPECT_EQ(at_print[1], "\x1b[2A\r\x1b[J");

    // stdout elsewhere: the block stays.
    const std::size_t before = recorded.writes.size();
    block.print_above(false, [&] { at_print = recorded.writes; });
    EXPECT_EQ(at_print.size(), before);

    block.observer_for(0).on_end(true);
    block.ended(0, ProgressBlock::Ended::saved);
    block.finish();
    const auto last = shown_lines(recorded.writes.back());
    EXPECT_EQ(last[0].rfind("total 1/3 files", 0), 0u) << recorded.writes.back();
    for (const auto& line : shown_lines(recorded.all()))
        EXPECT_LT(terminal_columns(line), 60u) << line;
}

TEST(ProgressBlock, FollowsTheWidthAfterAResize) {
    RecordedTerminal recorded;
    const OutputOptions output;
    ProgressBlock block(2, output, recorded.terminal());
    block.observer_for(0).on_start("a-rather-long-name-for-a-file-on-a-narrow-screen.bin",
                                   std::nullopt, 0);
    recorded.size = {30, 24};
    recorded.resized = true;
    // A resize draws at once, rate or not.
    block.observer_for(0).on_progress(100, std::nullopt);
    ASSERT_EQ(recorded.writes.size(), 2u);
    for (const auto& line : shown_lines(recorded.writes[1]))
        EXPECT_LT(terminal_columns(line), 30u) << line;
    EXPECT_EQ(recorded.writes[1].rfind("\x1b[2A", 0), 0u);
    // Foreign names arrive escaped: no control byte of theirs reaches the terminal.
    recorded.size = {80, 24};
    recorded.resized = true;
    block.observer_for(1).on_start("evil\x1b[2J\x07.bin", 10, 0);
    EXPECT_NE(recorded.writes.back().find("evil\\x1b[2J\\x07.bin"), std::string::npos);
    block.finish();
    for (const auto& w : recorded.writes) {
        const std::string plain = without_sequences(w);
        EXPECT_EQ(plain.find('\x1b'), std::string::npos) << w;
        EXPECT_EQ(plain.find('\x07'), std::string::npos) << w;
    }
}

TEST(ProgressBlock, ARunWithNothingToDownloadLeavesNothing) {
    RecordedTerminal recorded;
    const OutputOptions output;
    ProgressBlock block(0, output, recorded.terminal());
    block.print_above(true, [] {});
    block.finish();
    EXPECT_TRUE(recorded.writes.empty());
}

TEST(Terminal, SizeOfAPseudoTerminalAndNoneForAPipe) {
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT_GE(master, 0);
    ASSERT_EQ(::grantpt(master), 0);
    ASSERT_EQ(::unlockpt(master), 0);
    const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    ASSERT_GE(slave, 0);
    winsize size{};
    size.ws_col = 57;
    size.ws_row = 13;
    ASSERT_EQ(::ioctl(master, TIOCSWINSZ, &size), 0);
    const auto seen = terminal_size(slave);
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->columns, 57u);
    EXPECT_EQ(seen->rows, 13u);
    size.ws_col = 0; // a terminal that reports no size: none
    ASSERT_EQ(::ioctl(master, TIOCSWINSZ, &size), 0);
    EXPECT_FALSE(terminal_size(slave));
    ::close(slave);
    ::close(master);
    int pipe_ends[2];
    ASSERT_EQ(::pipe(pipe_ends), 0);
    EXPECT_FALSE(terminal_size(pipe_ends[1]));
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
}

TEST(Terminal, ResizeWatchTakesEachResizeOnceAndLeavesTheOtherSignalsAlone) {
    struct sigaction winch_before {};
    struct sigaction int_before {};
    sigaction(SIGWINCH, nullptr, &winch_before);
    sigaction(SIGINT, nullptr, &int_before);
    {
        ResizeWatch watch;
        EXPECT_FALSE(watch.resized());
        ASSERT_EQ(::raise(SIGWINCH), 0);
        EXPECT_TRUE(watch.resized());
        EXPECT_FALSE(watch.resized()); // once
        struct sigaction during {};
        sigaction(SIGWINCH, nullptr, &during);
        EXPECT_NE(during.sa_flags & SA_RESTART, 0); // a resize never fails a read with EINTR
        struct sigaction int_during {};
        sigaction(SIGINT, nullptr, &int_during);
        EXPECT_EQ(int_during.sa_handler, int_before.sa_handler);
    }
    struct sigaction winch_after {};
    sigaction(SIGWINCH, nullptr, &winch_after);
    EXPECT_EQ(winch_after.sa_handler, winch_before.sa_handler); // the one it replaced is back
}
