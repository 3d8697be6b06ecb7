#include "offset_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <new>
#include <unistd.h>

namespace nettool {
namespace {

// How far the writer may fall behind: one buffer written while the next fills, as on the
// in-order write path. More only costs: a deeper queue cycles through buffers that have left
// the CPU's caches by the time they are filled again (with 16 MiB a single fast connection
// took a quarter more CPU than the in-order path); the socket buffers already even out the
// disk's pauses.
constexpr std::size_t k_max_queued = 1024 * 1024;
constexpr std::size_t k_run_size = 1024 * 1024;
constexpr std::uint64_t k_page = 4096;
// Write-back of the page-cache writes is started every this many bytes.
constexpr std::uint64_t k_write_back_step = 8 * 1024 * 1024;

} // namespace

OffsetWriter::OffsetWriter(int fd, std::string shown, bool write_back)
    : m_fd(fd), m_shown(std::move(shown)), m_write_back(write_back) {
    // A second description of the same file (not a second look-up of its name).
    const std::string self = fmt::format("/proc/self/fd/{}", fd);
    m_direct_fd.reset(::open(self.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
    m_thread = std::thread([this] { run(); });
}

OffsetWriter::~OffsetWriter() {
    (void)drain();
    {
        std::lock_guard lock(m_mutex);
        m_closing = true;
    }
    m_changed.notify_all();
    m_thread.join();
}

OffsetWriter::Buffer OffsetWriter::take_buffer() {
    {
        std::lock_guard lock(m_mutex);
        if (!m_spare.empty()) {
            Buffer buffer = std::move(m_spare.back());
            m_spare.pop_back();
            return buffer;
        }
    }
    Buffer buffer(static_cast<char*>(std::aligned_alloc(k_page, k_run_size)));
    if (!buffer) throw std::bad_alloc();
    return buffer;
}

Status OffsetWriter::submit(Job job) {
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [this] { return m_error || m_queued < k_max_queued; });
    if (m_error) return tl::unexpected(*m_error);
    m_queued += job.size;
    m_queue.push_back(std::move(job));
    m_changed.notify_all();
    return {};
}

Status OffsetWriter::write(std::uint64_t offset, std::span<const char> data) {
    while (!data.empty()) {
        if (!m_hot || m_hot->start + m_hot->size != offset) {
            // Another segment's bytes: the run in hand waits in m_runs, and the one these
            // bytes continue (or a new one) is taken. One segment's pieces in a row (a single
            // connection) never touch the map.
            if (m_hot) m_runs.emplace(m_hot->start + m_hot->size, std::move(*m_hot));
            m_hot.reset();
            if (auto found = m_runs.find(offset); found != m_runs.end()) {
                m_hot = std::move(found->second);
                m_runs.erase(found);
            } else {
                // A new run starts on a page: the bytes before it go through the page cache.
                const auto head = static_cast<std::size_t>(
                    std::min<std::uint64_t>(data.size(), (k_page - offset % k_page) % k_page));
                if (head > 0) {
                    Job job{offset, take_buffer(), head, false};
                    std::memcpy(job.buffer.get(), data.data(), head);
                    if (auto submitted = submit(std::move(job)); !submitted) return submitted;
                    offset += head;
                    data = data.subspan(head);
                    continue;
                }
                m_hot = Run{offset, take_buffer(), 0};
            }
        }
        Run& run = *m_hot;
        const std::size_t take = std::min(data.size(), k_run_size - run.size);
        std::memcpy(run.buffer.get() + run.size, data.data(), take);
        run.size += take;
        offset += take;
        data = data.subspan(take);
        if (run.size == k_run_size) {
            Job job{run.start, std::move(run.buffer), run.size, true};
            m_hot.reset();
            if (auto submitted = submit(std::move(job)); !submitted) return submitted;
        }
    }
    return {};
}

Status OffsetWriter::drain() {
    Status first = {};
    if (m_hot) m_runs.emplace(m_hot->start + m_hot->size, std::move(*m_hot));
    m_hot.reset();
    for (auto& [end, run] : m_runs) {
        auto submitted = submit({run.start, std::move(run.buffer), run.size, false});
        if (!submitted && first) first = submitted;
    }
    m_runs.clear();
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [this] { return m_error || m_queued == 0; });
    if (m_error) return tl::unexpected(*m_error);
    return first;
}

int OffsetWriter::write_buffered(std::uint64_t offset, std::span<const char> data) {
    std::size_t written = 0;
    while (written < data.size()) {
        const ssize_t n = ::pwrite(m_fd, data.data() + written, data.size() - written,
                                   static_cast<off_t>(offset + written));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? errno : EIO;
        written += static_cast<std::size_t>(n);
    }
    m_since_write_back += data.size();
    if (m_write_back && m_since_write_back >= k_write_back_step) {
        (void)::sync_file_range(m_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        m_since_write_back = 0;
    }
    return 0;
}

int OffsetWriter::write_job(const Job& job) {
    if (job.direct && m_direct_fd) {
        const ssize_t n =
            ::pwrite(m_direct_fd.get(), job.buffer.get(), job.size, static_cast<off_t>(job.offset));
        if (n == static_cast<ssize_t>(job.size)) return 0;
        // EINVAL and friends: the file system will not take it. The page cache takes this
        // piece's rest and everything from now on.
        m_direct_fd.reset();
        if (n > 0) {
            const auto done = static_cast<std::size_t>(n);
            return write_buffered(job.offset + done, {job.buffer.get() + done, job.size - done});
        }
    }
    return write_buffered(job.offset, {job.buffer.get(), job.size});
}

void OffsetWriter::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait(lock, [this] { return m_closing || !m_queue.empty(); });
            if (m_queue.empty()) return;
            job = std::move(m_queue.front());
            m_queue.pop_front();
        }
        const int err = write_job(job);
        std::lock_guard lock(m_mutex);
        if (err != 0 && !m_error) {
            m_error = Error{ErrorKind::file_io,
                            fmt::format("cannot write {}: {}", m_shown, errno_text(err)), err, 0};
        }
        m_queued -= job.size;
        m_spare.push_back(std::move(job.buffer));
        m_changed.notify_all();
    }
}

} // namespace nettool
