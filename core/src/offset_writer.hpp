#pragma once
// Writes pieces at their offsets in one file for retrieve --split, so that the thread
// receiving the bytes never waits for the disk: the caller's thread only copies each piece
// once, into the page-aligned 1 MiB buffer of the run it continues (a segment's bytes come
// in order), and a thread of its own writes full buffers with O_DIRECT where the file
// system takes it, as the in-order write path does (no copy into the page cache). What is
// not aligned (a segment's first page, what is gathered at a drain) goes through the page
// cache. The bytes handed over are bounded: write() waits when the writer is that far behind.
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
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
    // Whatever was not drained is written before it returns.
    ~OffsetWriter();
    OffsetWriter(const OffsetWriter&) = delete;
    OffsetWriter& operator=(const OffsetWriter&) = delete;

    // Takes `data` to be written at `offset`; fails with the first write error so far.
    Status write(std::uint64_t offset, std::span<const char> data);
    // Everything taken is in the file (or the first error is returned).
    Status drain();

  private:
    struct FreeDeleter {
        void operator()(char* p) const { std::free(p); }
    };
    using Buffer = std::unique_ptr<char, FreeDeleter>;
    struct Job {
        std::uint64_t offset = 0;
        Buffer buffer;
        std::size_t size = 0;
        bool direct = false; // offset, size and buffer page-aligned
    };
    // Bytes gathered from `start` (page-aligned) on, in `buffer`.
    struct Run {
        std::uint64_t start = 0;
        Buffer buffer;
        std::size_t size = 0;
    };
    Buffer take_buffer();
    Status submit(Job job);
    void run();
    int write_buffered(std::uint64_t offset, std::span<const char> data);
    int write_job(const Job& job);

    int m_fd;
    UniqueFd m_direct_fd; // the same file opened with O_DIRECT; empty where refused
    std::string m_shown;
    bool m_write_back;
    std::uint64_t m_since_write_back = 0; // writer thread
    std::optional<Run> m_hot;             // the run written last (caller's thread)
    std::map<std::uint64_t, Run> m_runs;  // the others, by where each ends (caller's thread)
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Job> m_queue;
    std::vector<Buffer> m_spare; // written buffers, for the next runs
    std::size_t m_queued = 0;    // bytes in m_queue and being written
    bool m_closing = false;
    std::optional<Error> m_error;
    std::thread m_thread; // last: starts once the rest is ready
};

} // namespace nettool
