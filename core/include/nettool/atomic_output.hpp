#pragma once
// Where a download's bytes go. A regular file is written as NAME.part and renamed onto NAME
// only when complete, so NAME never holds a partial or corrupt file (nettool-retrieve(1)). The
// .part is created O_EXCL|O_NOFOLLOW mode 0600, locked with flock() while we write it (a
// second retrieve of the same name, and `clean`, can see the download is alive), and kept
// when the download fails so --continue can resume it.
//
// "-" (stdout) and names that exist and are not regular files (/dev/null, a FIFO, a tty) are
// written directly: there is nothing to rename and no .part beside them.
#include <chrono>
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <span>
#include <string>
#include <sys/types.h>

namespace nettool {

struct AtomicOutputOptions {
    bool force = false;  // replace an existing NAME (and start over an existing NAME.part)
    bool resume = false; // continue NAME.part if there is one
    // Mode NAME gets at commit; default 0666 & ~umask, like any new file. The temp area
    // passes 0600.
    std::optional<mode_t> final_mode;
};

class AtomicOutput {
  public:
    static Result<AtomicOutput> open(std::string path, AtomicOutputOptions options = {});

    AtomicOutput(AtomicOutput&&) noexcept = default;
    AtomicOutput& operator=(AtomicOutput&&) noexcept = default;
    AtomicOutput(const AtomicOutput&) = delete;
    AtomicOutput& operator=(const AtomicOutput&) = delete;
    ~AtomicOutput() = default; // an uncommitted .part stays for --continue

    bool direct() const { return m_direct; }
    const std::string& path() const { return m_path; }
    const std::string& part_path() const { return m_part_path; } // empty when direct
    // Bytes in the output now: the resume offset (for a direct output, what we wrote).
    std::uint64_t size() const { return m_size; }
    // True when open() found an existing NAME.part to continue (size() may be 0).
    bool resumed() const { return m_resumed; }
    dev_t device() const { return m_device; }
    ino_t inode() const { return m_inode; }
    int fd() const { return m_fd.get() >= 0 ? m_fd.get() : m_borrowed_fd; }

    // Writes everything (partial writes, EINTR); ENOSPC and friends -> ErrorKind::file_io.
    Status write(std::span<const char> data);
    // Throws away what was written (the server ignored a range request). Fails for a direct
    // output that already holds data: it cannot be unwritten.
    Status restart();
    // fsync, final mode, optional mtime, rename onto NAME (never replacing one unless force),
    // fsync of the directory, removal of the sidecar. The descriptor (and its lock) stays open
    // until close() or destruction.
    Status commit(std::optional<std::chrono::system_clock::time_point> mtime = std::nullopt);
    // Removes the .part and its sidecar (a download that failed its checksum is useless).
    void discard();
    void close() { m_fd.reset(); }

  private:
    AtomicOutput() = default;
    Status open_part(const AtomicOutputOptions& options);
    Status open_direct();
    Status rename_into_place();

    std::string m_path;
    std::string m_part_path;
    UniqueFd m_fd;
    int m_borrowed_fd = -1; // stdout
    bool m_direct = false;
    bool m_resumed = false;
    bool m_force = false;
    bool m_committed = false;
    mode_t m_final_mode = 0644;
    std::uint64_t m_size = 0;
    dev_t m_device = 0;
    ino_t m_inode = 0;
};

// The process umask, read without changing it (from /proc/self/status; umask() as fallback).
mode_t current_umask();

} // namespace nettool
