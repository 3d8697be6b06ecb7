#pragma once
// The write path of one download, between the transfer's body chunks and its AtomicOutput.
//
// - A regular file (NAME.part) is written by a writer thread in large buffers (BufferPipeline)
//   while the transfer thread receives the next ones. The threads start with the first full
//   buffer: a smaller download is written in one go by settle(), on the caller's thread. Behind the
//   writer, write-back of each buffer is started at once (sync_file_range), the range written some
//   megabytes earlier is waited for and dropped from the page cache (posix_fadvise DONTNEED), so
//   the final fsync finds little left to do and the download does not fill the page cache. Without
//   sync
//   (--no-sync) the kernel writes back when it likes and nothing is dropped.
// - A known length is preallocated with FALLOC_FL_KEEP_SIZE: the file's size stays the bytes
//   written, which is what --continue trusts, and a failed transfer gives the blocks past
//   the end back (settle()).
// - A direct output (stdout, /dev/null, a FIFO) gets each chunk written at once, as it comes.
// - Digests are computed only when asked for, on a hasher thread fed the same buffers.
#include "buffer_pipeline.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <nettool/atomic_output.hpp>
#include <nettool/digest.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace nettool {

struct DownloadWriterOptions {
    bool sha256 = false;                 // compute the SHA-256 of the content (--json)
    std::optional<std::string> checksum; // compute this algorithm too (--checksum)
    bool sync = true;                    // write back as we go for the final fsync
    std::size_t buffer_size = 0;         // bytes per write(2); 0: the writer's choice
};

class DownloadWriter {
  public:
    // `output` must outlive the writer. Its size() so far is the starting offset.
    DownloadWriter(AtomicOutput& output, DownloadWriterOptions options);
    DownloadWriter(const DownloadWriter&) = delete;
    DownloadWriter& operator=(const DownloadWriter&) = delete;

    // Content bytes accepted so far (written, or handed to the writer thread).
    std::uint64_t size() const { return m_size; }
    bool hashing() const { return m_sha256 || m_check; }

    // The content is `total` bytes long: reserve the rest of it (silently skipped where the file
    // system cannot).
    void preallocate(std::uint64_t total);
    // Feeds the bytes already in the output (a resumed .part) to the digests.
    Status hash_existing();
    Status write(std::span<const char> chunk);
    // Everything accepted is in the file, and the writer and hasher are idle. After a failed
    // transfer (`failed`), preallocated blocks past the end are given back.
    Status settle(bool failed = false);
    // Throws everything away: the output starts over empty, the digests too.
    Status restart();

    // `record` runs on the writer thread just before the first bytes reach the file (the
    // sidecar that describes them goes first, without holding up the transfer), unless
    // cancel_record() comes first; its failure is the write's.
    void record_before_first_write(std::function<Status()> record);
    // True when `record` will now never run; false when it has run (or is running).
    bool cancel_record();

    // After settle(): lower-case hex, empty when not computed.
    std::string sha256_hex() const { return m_sha256 ? m_sha256->hex() : std::string(); }
    std::string checksum_hex() const { return m_check ? m_check->hex() : sha256_hex(); }

  private:
    Status write_out(std::span<const char> data); // on the writer thread
    void write_back(std::uint64_t to);
    void hash(std::span<const char> data); // on the hasher thread
    void start_pipeline();

    AtomicOutput& m_output;
    DownloadWriterOptions m_options;
    std::optional<Digest> m_sha256;
    std::optional<Digest> m_check;
    std::uint64_t m_size = 0;
    // Writer thread: write-back started below m_started; below m_synced, waited for (with
    // sync) and dropped from the page cache.
    std::uint64_t m_synced = 0;
    std::uint64_t m_started = 0;
    bool m_preallocated = false;
    std::function<Status()> m_record;
    std::atomic<bool> m_record_armed{false};
    bool m_new_buffer = true; // the next write starts a buffer
    BufferPipeline::Mask m_write_lane = 0;
    BufferPipeline::Mask m_hash_lane = 0;
    // The consumers until the pipeline starts (with the first full buffer), and the bytes
    // held until then.
    std::vector<BufferPipeline::Consumer> m_lanes;
    std::size_t m_buffer_size = 0;
    std::vector<char> m_staging;
    std::optional<BufferPipeline> m_pipeline; // declared last: its threads stop first
};

} // namespace nettool
