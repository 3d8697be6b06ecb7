#include "offset_writer.hpp"
#include "scratch_dir.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

using nettool::OffsetWriter;
using nettool::test::read_file;
using nettool::test::ScratchDir;

namespace {

constexpr std::size_t MiB = 1024 * 1024;

std::string random_bytes(std::size_t n) {
    std::mt19937 generator(42);
    std::string bytes(n, '\0');
    for (auto& c : bytes)
        c = static_cast<char>(generator());
    return bytes;
}

} // namespace

TEST(OffsetWriter, SegmentsWrittenInTurnsAndPiecesOfAnySizeLandAtTheirOffsets) {
    ScratchDir dir;
    const std::string path = dir / "f.part";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    // Segments as --split makes them: one from 0, one from an unaligned middle (its first page
    // goes through the page cache), one from a 64 KiB boundary; each gets pieces in order,
    // the segments taking turns, so runs are put aside and taken up again.
    const std::string content = random_bytes(7 * MiB + 12345);
    const std::vector<std::pair<std::size_t, std::size_t>> segments = {
        {0, 3 * MiB + 1000}, {3 * MiB + 1000, 5 * MiB}, {5 * MiB, content.size()}};
    std::vector<std::size_t> done(segments.size(), 0);
    const std::size_t sizes[] = {16384, 1, 4095, 262144, 70000, 3 * MiB};
    {
        OffsetWriter writer(fd, path, true);
        bool left = true;
        for (std::size_t turn = 0; left; ++turn) {
            left = false;
            for (std::size_t s = 0; s < segments.size(); ++s) {
                const auto [start, end] = segments[s];
                const std::size_t at = start + done[s];
                const std::size_t n = std::min(sizes[(turn + s) % std::size(sizes)], end - at);
                if (n == 0) continue;
                ASSERT_TRUE(writer.write(at, {content.data() + at, n}));
                done[s] += n;
                left = true;
            }
            if (turn == 3) {
                ASSERT_TRUE(writer.drain()); // a drain mid-way (the sidecar's)
            }
        }
        ASSERT_TRUE(writer.drain());
        EXPECT_EQ(read_file(path), content);
    }
    ::close(fd);
}

TEST(OffsetWriter, WhatWasNotDrainedIsWrittenWhenItGoes) {
    ScratchDir dir;
    const std::string path = dir / "f.part";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    const std::string content = random_bytes(MiB + MiB / 2);
    {
        OffsetWriter writer(fd, path, false);
        ASSERT_TRUE(writer.write(0, {content.data(), content.size()}));
    }
    EXPECT_EQ(read_file(path), content);
    ::close(fd);
}
