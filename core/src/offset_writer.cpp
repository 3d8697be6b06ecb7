#include "offset_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace nettool {
namespace {

// How far the writer may fall behind: enough to even out the disk's pauses, small enough
// to bound the memory.
constexpr std::size_t k_max_queued = 16 * 1024 * 1024;
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
    {
        std::lock_guard lock(m_mutex);
        m_closing = true;
        m_flush = true;
    }
    m_changed.notify_all();
    m_thread.join();
}

Status OffsetWriter::write(std::uint64_t offset, std::span<const char> data) {
    Piece piece{offset, {}};
    {
        std::lock_guard lock(m_mutex);
        if (!m_spare.empty()) {
            piece.bytes = std::move(m_spare.back());
            m_spare.pop_back();
        }
    }
    piece.bytes.assign(data.begin(), data.end()); // outside the lock: the writer goes on
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [this] { return m_error || m_queued < k_max_queued; });
    if (m_error) return tl::unexpected(*m_error);
    m_queued += piece.bytes.size();
    m_queue.push_back(std::move(piece));
    m_changed.notify_all();
    return {};
}

Status OffsetWriter::drain() {
    std::unique_lock lock(m_mutex);
    m_flush = true;
    m_changed.notify_all();
    m_changed.wait(lock, [this] { return m_error || (m_queued == 0 && !m_flush); });
    if (m_error) return tl::unexpected(*m_error);
    return {};
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

int OffsetWriter::write_direct(const Run& run) {
    if (m_direct_fd) {
        const ssize_t n =
            ::pwrite(m_direct_fd.get(), run.buffer.get(), run.size, static_cast<off_t>(run.start));
        if (n == static_cast<ssize_t>(run.size)) return 0;
        // EINVAL and friends: the file system will not take it; a short write is finished
        // below. Either way the page cache takes the rest from now on.
        m_direct_fd.reset();
        if (n > 0) {
            const auto done = static_cast<std::size_t>(n);
            return write_buffered(run.start + done, {run.buffer.get() + done, run.size - done});
        }
    }
    return write_buffered(run.start, {run.buffer.get(), run.size});
}

// Gathers `data` into the run it continues (or a new one); full runs are written.
int OffsetWriter::put(std::uint64_t offset, std::span<const char> data) {
    Run run;
    if (auto found = m_runs.find(offset); found != m_runs.end()) {
        run = std::move(found->second);
        m_runs.erase(found);
    } else {
        // A new run starts on a page: the bytes before it go through the page cache.
        const std::uint64_t head =
            std::min<std::uint64_t>(data.size(), (k_page - offset % k_page) % k_page);
        if (head > 0) {
            if (int err = write_buffered(offset, data.first(head)); err != 0) return err;
            offset += head;
            data = data.subspan(head);
        }
        if (data.empty()) return 0;
        run.start = offset;
        run.buffer.reset(static_cast<char*>(std::aligned_alloc(k_page, k_run_size)));
        if (!run.buffer) return ENOMEM;
    }
    while (!data.empty()) {
        const std::size_t take = std::min(data.size(), k_run_size - run.size);
        std::memcpy(run.buffer.get() + run.size, data.data(), take);
        run.size += take;
        data = data.subspan(take);
        if (run.size == k_run_size) {
            if (int err = write_direct(run); err != 0) return err;
            run.start += run.size;
            run.size = 0;
        }
    }
    const std::uint64_t end = run.start + run.size;
    m_runs.emplace(end, std::move(run));
    return 0;
}

int OffsetWriter::flush_runs() {
    int first_error = 0;
    for (auto& [end, run] : m_runs) {
        if (run.size == 0) continue;
        const int err = write_buffered(run.start, {run.buffer.get(), run.size});
        if (first_error == 0) first_error = err;
    }
    m_runs.clear();
    return first_error;
}

void OffsetWriter::run() {
    for (;;) {
        Piece piece;
        bool flush = false;
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait(lock, [this] { return m_closing || m_flush || !m_queue.empty(); });
            if (m_queue.empty()) {
                flush = m_flush;
                if (!flush && m_closing) return;
            } else {
                piece = std::move(m_queue.front());
                m_queue.pop_front();
            }
        }
        const int err = flush ? flush_runs() : put(piece.offset, piece.bytes);
        std::lock_guard lock(m_mutex);
        if (err != 0 && !m_error) {
            m_error = Error{ErrorKind::file_io,
                            fmt::format("cannot write {}: {}", m_shown, errno_text(err)), err, 0};
        }
        if (flush) {
            m_flush = false;
            if (m_closing) {
                m_changed.notify_all();
                return;
            }
        } else {
            m_queued -= piece.bytes.size();
            m_spare.push_back(std::move(piece.bytes));
        }
        m_changed.notify_all();
    }
}

} // namespace nettool
