#pragma once
// Writes pieces at their offsets in one file on a thread of its own, so that the thread
// receiving the bytes (retrieve --split's transfers) never waits for the page cache or the
// disk. The bytes queued are bounded: write() waits when the writer is that far behind.
//
// Pieces that continue one another (a segment's bytes, in order) are gathered into 1 MiB
// page-aligned buffers written with O_DIRECT where the file system takes it: the bytes go
// to the disk without a copy into the page cache, as the in-order write path does. What is
// not aligned (a segment's first and last page, whatever is gathered at a drain) is written
// through the page cache.
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace nettool {

class OffsetWriter {
  public:
    // `fd` must stay open while the writer lives; `shown` names the file in errors. With
    // `write_back`, write-back of what goes through the page cache is started as it goes.
    OffsetWriter(int fd, std::string shown, bool write_back);
    ~OffsetWriter();
    OffsetWriter(const OffsetWriter&) = delete;
    OffsetWriter& operator=(const OffsetWriter&) = delete;

    // Copies `data` to be written at `offset`; fails with the first write error so far.
    Status write(std::uint64_t offset, std::span<const char> data);
    // Everything queued is in the file (or the first error is returned).
    Status drain();

  private:
    struct Piece {
        std::uint64_t offset = 0;
        std::vector<char> bytes;
    };
    struct FreeDeleter {
        void operator()(char* p) const { std::free(p); }
    };
    // Bytes of one run gathered from `start` (page-aligned) on.
    struct Run {
        std::uint64_t start = 0;
        std::unique_ptr<char, FreeDeleter> buffer;
        std::size_t size = 0;
    };
    void run();
    int put(std::uint64_t offset, std::span<const char> data);
    int write_buffered(std::uint64_t offset, std::span<const char> data);
    int write_direct(const Run& run);
    int flush_runs();

    int m_fd;
    UniqueFd m_direct_fd; // the same file opened with O_DIRECT; empty where refused
    std::string m_shown;
    bool m_write_back;
    std::uint64_t m_since_write_back = 0;
    std::map<std::uint64_t, Run> m_runs; // by where each ends (writer thread only)
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Piece> m_queue;
    // Buffers written and handed back for the next pieces: no allocation (and no page
    // faults of fresh memory) per piece.
    std::vector<std::vector<char>> m_spare;
    std::size_t m_queued = 0; // bytes in m_queue and being written
    bool m_flush = false;     // drain(): gathered runs are written too
    bool m_closing = false;
    std::optional<Error> m_error;
    std::thread m_thread; // last: starts once the rest is ready
};

} // namespace nettool
