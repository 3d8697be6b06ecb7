#include "download_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <vector>

namespace nettool {
namespace {

// Buffers in flight: one filled while the other is written. With a hasher a third, smaller
// ones, evens out a hasher and a disk that slow down at different moments. 2 MiB in all keeps
// a download's peak RSS within 16 MiB.
constexpr std::size_t k_buffers_writing = 2;
constexpr std::size_t k_buffer_size_writing = 1024 * 1024;
constexpr std::size_t k_buffers_hashing = 4;
constexpr std::size_t k_buffer_size_hashing = 512 * 1024;
// How far write-back may run behind the writer before it waits: enough to keep the disk's
// queue full, little enough that the final fsync is short.
constexpr std::uint64_t k_write_back_lag = 32ull * 1024 * 1024;
constexpr std::uint64_t k_page = 4096;
// Write-back is started early only in files larger than this.
constexpr std::uint64_t k_early_write_back = 2ull * 1024 * 1024;

} // namespace

DownloadWriter::DownloadWriter(AtomicOutput& output, DownloadWriterOptions options)
    : m_output(output), m_options(std::move(options)), m_size(output.size()),
      m_synced(output.size()), m_started(output.size() / k_page * k_page) {
    if (m_options.sha256 || m_options.checksum == "sha256")
        m_sha256.emplace(Digest::create("sha256").value());
    if (m_options.checksum && *m_options.checksum != "sha256")
        m_check.emplace(Digest::create(*m_options.checksum).value());
    if (!m_output.direct()) {
        m_write_lane = BufferPipeline::Mask{1} << m_lanes.size();
        m_lanes.emplace_back([this](std::span<const char> data) { return write_out(data); });
    }
    if (hashing()) {
        m_hash_lane = BufferPipeline::Mask{1} << m_lanes.size();
        m_lanes.emplace_back([this](std::span<const char> data) {
            hash(data);
            return Status{};
        });
    }
    m_buffer_size = hashing() ? k_buffer_size_hashing : k_buffer_size_writing;
    if (m_options.buffer_size != 0) m_buffer_size = m_options.buffer_size;
}

void DownloadWriter::start_pipeline() {
    if (m_pipeline || m_lanes.empty()) return;
    m_pipeline.emplace(hashing() ? k_buffers_hashing : k_buffers_writing, m_buffer_size,
                       std::move(m_lanes));
}

void DownloadWriter::hash(std::span<const char> data) {
    if (m_sha256) m_sha256->update(data);
    if (m_check) m_check->update(data);
}

void DownloadWriter::preallocate(std::uint64_t total) {
    if (m_output.direct() || m_output.pending() || total <= m_size) return;
    // What fits in one buffer is written by one write(2): nothing to reserve ahead of it.
    if (total - m_size <= m_buffer_size) return;
    // KEEP_SIZE: the blocks are reserved but the size stays what was written, so a download
    // that fails never leaves a .part that looks complete. EOPNOTSUPP (tmpfs of old, NFS),
    // ENOSPC and the rest only lose the optimisation: the writes report real failures.
    if (::fallocate(m_output.fd(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(m_size),
                    static_cast<off_t>(total - m_size)) == 0) {
        m_preallocated = true;
    } else if (errno == ENOSPC) {
        // Part of the range may be reserved: give it back rather than hold a full disk.
        (void)::ftruncate(m_output.fd(), static_cast<off_t>(m_output.size()));
    }
}

Status DownloadWriter::hash_existing() {
    if (!hashing() || m_output.size() == 0) return {};
    start_pipeline();
    std::vector<char> buffer(256 * 1024);
    std::uint64_t position = 0;
    while (position < m_output.size()) {
        const ssize_t n =
            ::pread(m_output.fd(), buffer.data(), buffer.size(), static_cast<off_t>(position));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            return fail_errno(
                ErrorKind::file_io, n == 0 ? 0 : errno,
                fmt::format("read {}: {}", m_output.part_path(),
                            n == 0 ? std::string("unexpected end of file") : errno_text(errno)));
        }
        const std::span<const char> chunk(buffer.data(), static_cast<std::size_t>(n));
        if (auto handed = m_pipeline->append(chunk, m_hash_lane); !handed) return handed;
        position += static_cast<std::uint64_t>(n);
    }
    m_new_buffer = true;
    return m_pipeline->flush();
}

Status DownloadWriter::write(std::span<const char> chunk) {
    if (m_output.direct()) {
        // As it comes: a reader of stdout sees the bytes now, and /dev/null costs nothing.
        if (auto written = m_output.write(chunk); !written) return written;
    }
    if (!m_pipeline && !m_lanes.empty()) {
        // Held until a buffer's worth has come: a download that ends before then (a small
        // file) is written by settle() on the caller's thread, without threads of its own.
        if (m_staging.size() + chunk.size() <= m_buffer_size) {
            m_staging.insert(m_staging.end(), chunk.begin(), chunk.end());
            m_size += chunk.size();
            return {};
        }
        start_pipeline();
        const std::vector<char> staged = std::exchange(m_staging, {});
        m_size -= staged.size();
        if (auto handed = write(staged); !handed) return handed;
    }
    if (m_pipeline) {
        if (std::exchange(m_new_buffer, false) && m_write_lane != 0 && m_size % k_page != 0) {
            // A buffer that would start at an odd offset (a resumed .part, the tail of an
            // earlier attempt): a short one first, so that the writes after it start on a
            // page boundary and can go around the page cache.
            const auto head = std::min<std::size_t>(chunk.size(), k_page - m_size % k_page);
            if (auto handed = m_pipeline->append(chunk.first(head), m_write_lane | m_hash_lane);
                !handed)
                return handed;
            if (auto handed = m_pipeline->flush(); !handed) return handed;
            m_size += head;
            chunk = chunk.subspan(head);
        }
        if (auto handed = m_pipeline->append(chunk, m_write_lane | m_hash_lane); !handed)
            return handed;
    }
    m_size += chunk.size();
    return {};
}

void DownloadWriter::record_before_first_write(std::function<Status()> record) {
    m_record = std::move(record);
    m_record_armed = true;
}

bool DownloadWriter::cancel_record() {
    return m_record_armed.exchange(false) || !m_record;
}

Status DownloadWriter::write_out(std::span<const char> data) {
    if (m_record_armed.exchange(false)) {
        if (auto recorded = m_record(); !recorded) return recorded;
    }
    if (auto written = m_output.write_aligned(data); !written) return written;
    if (m_output.wrote_direct()) {
        m_started = m_synced = m_output.size(); // nothing of it is in the page cache
    } else {
        write_back(m_output.size());
    }
    return {};
}

void DownloadWriter::write_back(std::uint64_t to) {
    const int fd = m_output.fd();
    // Start writing the pages written in full to disk now, rather than when the final fsync
    // (or the kernel's flusher) gets to them. A partly written last page waits for the next
    // write: a page under write-back stalls whoever writes to it. Failures here are the
    // fsync's to report: it sees the same errors.
    const std::uint64_t whole = to / k_page * k_page;
    // A small file is written back in one go by its fsync (or the kernel): a call per file
    // would cost more than it saves (a list of many small files).
    if (whole < k_early_write_back) return;
    if (whole > m_started) {
        (void)::sync_file_range(fd, static_cast<off_t>(m_started),
                                static_cast<off_t>(whole - m_started), SYNC_FILE_RANGE_WRITE);
        m_started = whole;
    }
    if (m_started < m_synced + 2 * k_write_back_lag) return;
    // The range written a while ago is on its way to disk. With sync, wait for it, so that
    // the final fsync finds little left; then drop it from the page cache, where it would
    // only push out pages others use, and whose reuse is cheaper than fresh pages. Without
    // sync nothing waits: the pages already clean are dropped, the others stay cached.
    const std::uint64_t until = m_started - k_write_back_lag;
    const auto start = static_cast<off_t>(m_synced);
    const auto length = static_cast<off_t>(until - m_synced);
    if (m_options.sync) {
        (void)::sync_file_range(fd, start, length,
                                SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                    SYNC_FILE_RANGE_WAIT_AFTER);
    }
    (void)::posix_fadvise(fd, start, length, POSIX_FADV_DONTNEED);
    m_synced = until;
}

Status DownloadWriter::settle(bool failed) {
    Status settled = m_pipeline ? m_pipeline->wait() : Status{};
    if (!m_staging.empty()) {
        const std::vector<char> staged = std::exchange(m_staging, {});
        if (m_write_lane != 0) settled = write_out(staged);
        if (m_hash_lane != 0) hash(staged);
    }
    m_new_buffer = true;
    if (!settled || failed) {
        // What is in the file is what counts (a failed write may have been partial).
        m_size = m_output.direct() ? m_size : m_output.size();
        if (m_preallocated) {
            // The reserved blocks past the end go back; the size does not change.
            (void)::ftruncate(m_output.fd(), static_cast<off_t>(m_output.size()));
            m_preallocated = false;
        }
    }
    return settled;
}

Status DownloadWriter::restart() {
    m_staging.clear();
    if (m_pipeline) m_pipeline->drop();
    if (auto restarted = m_output.restart(); !restarted) return restarted;
    if (m_sha256) m_sha256->reset();
    if (m_check) m_check->reset();
    m_size = 0;
    m_new_buffer = true;
    m_synced = 0;
    m_started = 0;
    m_preallocated = false;
    return {};
}

} // namespace nettool
