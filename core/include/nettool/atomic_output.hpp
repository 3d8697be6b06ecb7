#pragma once
// Where a download's bytes go. A regular file is written as NAME.part and renamed onto NAME
// only when complete, so NAME never holds a partial or corrupt file (nettool-retrieve(1)). The
// .part is created O_EXCL|O_NOFOLLOW mode 0600, locked with flock() while we write it (a
// second retrieve of the same name, and `clean`, can see the download is alive), and kept
// when the download fails so --continue can resume it.
//
// Every operation after open() is relative to the descriptor of NAME's directory (openat,
// renameat2, unlinkat): a directory renamed or swapped on the way cannot redirect them.
//
// "-" (stdout) and names that exist and are not regular files (/dev/null, a FIFO, a tty) are
// written directly: there is nothing to rename and no .part beside them.
#include <chrono>
#include <cstdint>
#include <fcntl.h>
#include <nettool/directory_sync.hpp>
#include <nettool/error.hpp>
#include <nettool/file_identity.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <span>
#include <string>
#include <sys/types.h>

namespace nettool {

class DirectoryNames;

struct AtomicOutputOptions {
    bool force = false;  // replace an existing NAME (and start over an existing NAME.part)
    bool resume = false; // continue NAME.part if there is one
    // Mode NAME gets at commit; default 0666 & ~umask, like any new file. The temp area
    // passes 0600.
    std::optional<mode_t> final_mode;
    // The file is made only when the first byte is written (or at commit), and then without a
    // name (O_TMPFILE) where the file system allows: commit() links it to NAME at once, and a
    // download kept for --continue gets the name NAME.part from keep_as_part(). For a small
    // download held in memory until it is complete, this spares the .part's name, its lock
    // and the rename (and lets all of it happen where the commit happens). Not with force
    // or resume.
    bool defer_create = false;
    // NAME's directory, already open (borrowed; open() keeps a duplicate): NAME is looked up
    // in it by its base name, and its path's directory part is not used.
    int dir_fd = -1;
    // dir_fd's names as they were a moment ago (borrowed; outlives the output): NAME and
    // NAME.part are not looked up when they were absent then.
    const DirectoryNames* dir_names = nullptr;
};

class AtomicOutput {
  public:
    static Result<AtomicOutput> open(std::string path, AtomicOutputOptions options = {});
    // A new NAME.part in the directory `dir_fd` (the temp area), created without a name
    // (O_TMPFILE) where the file system allows, so that it gets one only from publish(): the
    // caller records the download first, and a crash in between leaves nothing behind. Where
    // O_TMPFILE is missing the .part is created under its name at once (published() is then
    // already true). `shown` is NAME's path for messages.
    static Result<AtomicOutput> create_unnamed(int dir_fd, std::string name, std::string shown,
                                               AtomicOutputOptions options = {});

    AtomicOutput(AtomicOutput&&) noexcept = default;
    AtomicOutput& operator=(AtomicOutput&&) noexcept = default;
    AtomicOutput(const AtomicOutput&) = delete;
    AtomicOutput& operator=(const AtomicOutput&) = delete;
    // An uncommitted .part stays for --continue; an unnamed file goes with its descriptor.
    ~AtomicOutput() = default;

    // Gives an unnamed .part its name, never replacing a file (that is an error whose
    // sys_errno is EEXIST).
    Status publish();
    bool published() const { return !m_unnamed; }

    // The file is not made yet (defer_create, nothing written).
    bool pending() const { return m_pending; }
    // Not made yet, or made without a name: nothing in the directory shows it.
    bool nameless() const { return m_pending || m_unnamed; }
    // Makes a pending file: looks at NAME as open() does (a directory or an existing regular
    // file is an error, anything else is written directly), then makes the file unnamed where
    // the file system allows, else NAME.part. A failure is remembered and returned again.
    Status create();
    bool create_failed() const { return m_create_error.has_value(); }
    // A pending or unnamed file that is to be kept for --continue: it becomes NAME.part, mode
    // 0600, never replacing a file (EEXIST is an error). Nothing to do for a named .part.
    Status keep_as_part();

    bool direct() const { return m_direct; }
    const std::string& path() const { return m_path; }
    const std::string& part_path() const { return m_part_path; } // empty when direct
    // NAME's directory, and NAME and NAME.part relative to it (AT_FDCWD and empty when direct).
    int dir_fd() const { return m_dir ? m_dir.get() : AT_FDCWD; }
    const std::string& name() const { return m_name; }
    const std::string& part_name() const { return m_part_name; }
    // Bytes in the output now: the resume offset (for a direct output, what we wrote).
    std::uint64_t size() const { return m_size; }
    // True when open() found an existing NAME.part to continue (size() may be 0).
    bool resumed() const { return m_resumed; }
    // The .part's identity (device, inode, birth time), which rename() carries over to NAME.
    const FileIdentity& identity() const { return m_identity; }
    int fd() const { return m_fd.get() >= 0 ? m_fd.get() : m_borrowed_fd; }

    // Writes everything (partial writes, EINTR); ENOSPC and friends -> ErrorKind::file_io.
    Status write(std::span<const char> data);
    // The same for large page-aligned pieces (address, length and file offset multiples of
    // 4096) of a .part: written with O_DIRECT where the file system takes it, so they go from
    // the buffer to the disk without a copy into the page cache; otherwise, and for any
    // other piece, as write() does.
    Status write_aligned(std::span<const char> data);
    // The last write_aligned() went around the page cache.
    bool wrote_direct() const { return m_o_direct; }
    // Throws away what was written (the server ignored a range request). Fails for a direct
    // output that already holds data: it cannot be unwritten.
    Status restart();
    // Final mode, optional mtime, fsync, rename onto NAME (never replacing one unless force),
    // fsync of the directory, removal of the sidecar (see sidecar_written()). The descriptor (and
    // its lock) stays open until close() or destruction. Without `sync` both fsyncs are left out:
    // the rename is as atomic, but after a power loss NAME may be missing or hold fewer bytes. With
    // `directory_syncs` the directory's fsync is shared with other commits at the same time.
    Status commit(std::optional<std::chrono::system_clock::time_point> mtime = std::nullopt,
                  bool sync = true, DirectorySyncs* directory_syncs = nullptr);
    // Removes the .part and its sidecar (a download that failed its checksum is useless, and
    // one in the temp area cannot be continued).
    void discard();
    void close() { m_fd.reset(); }
    // A sidecar (NAME.part.meta) was written beside the .part: commit() removes it. Without
    // this, commit() removes one only where an earlier .part may have left it (resume, or
    // --force replacing an old .part).
    void sidecar_written() { m_sidecar_possible = true; }

  private:
    AtomicOutput() = default;
    // Looks at NAME and holds its directory, then makes the file: written directly when NAME
    // is not a regular file, else NAME.part, or with `unnamed` a file without a name.
    Status place(const AtomicOutputOptions& options, bool unnamed);
    // `name` (in m_dir) was not there when m_dir_names was read.
    bool known_absent(const std::string& name) const;
    Status open_part(const AtomicOutputOptions& options);
    Status open_direct();
    Status rename_into_place();
    Status link_as(const std::string& name, const std::string& shown);
    Status take_identity();
    bool set_o_direct(bool on);

    std::string m_path;
    std::string m_part_path;
    UniqueFd m_dir;
    const DirectoryNames* m_dir_names = nullptr; // m_dir's names a moment ago, when known
    std::string m_name;
    std::string m_part_name;
    UniqueFd m_fd;
    int m_borrowed_fd = -1; // stdout
    bool m_direct = false;
    bool m_resumed = false;
    bool m_force = false;
    bool m_committed = false;
    bool m_unnamed = false;
    bool m_pending = false;        // defer_create: no file yet
    bool m_final_mode_set = false; // made unnamed with m_final_mode: no fchmod at commit
    std::optional<Error> m_create_error;
    bool m_sidecar_possible = false; // commit() removes NAME.part.meta
    bool m_o_direct = false;         // O_DIRECT is set on m_fd now
    bool m_direct_io_usable = true;  // until the file system refuses it
    mode_t m_final_mode = 0644;
    std::uint64_t m_size = 0;
    FileIdentity m_identity;
};

// The process umask, read without changing it (from /proc/self/status; umask() as fallback).
mode_t current_umask();

} // namespace nettool
