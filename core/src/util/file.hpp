#pragma once
// Small files nettool keeps for itself (the temp-area registry, NAME.part.meta): one atomic
// writer and one careful reader, so every such file gets the same guarantees.
#include <cstddef>
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace nettool::util {

// Replaces dir_fd/name with `text` so that a reader (or a crash) sees the old content or the
// new, never a mix: a private temporary beside it (random name, O_EXCL, mode 0600, no symlink
// followed), fsync, rename over `name`, fsync of the directory. `name` is a plain file name
// (no '/'); `shown` names the file in messages. Without `sync` the fsyncs are left out: still
// all or nothing while the system runs, but not across a power loss.
Status write_file_atomically(int dir_fd, const std::string& name, std::string_view text,
                             std::string_view shown, bool sync = true);
// The same for a path: its directory is opened first.
Status write_file_atomically(const std::string& path, std::string_view text);

// Opens dir_fd/name (openat with `flags`, never following a symlink; `mode` when O_CREAT) and
// checks on the descriptor that it is a regular file owned by us. A missing file is an error
// whose cause is ENOENT; a symlink or anything else is refused with a sentence naming `shown`.
Result<UniqueFd> open_own_file(int dir_fd, const std::string& name, int flags, mode_t mode,
                               std::string_view shown);

// Reads dir_fd/name whole when it is a regular file owned by us, reached without following a
// symlink, and at most max_size bytes. Missing: an empty optional; anything else unexpected
// is an ErrorKind::file_io error.
Result<std::optional<std::string>> read_own_file(int dir_fd, const std::string& name,
                                                 std::size_t max_size, std::string_view shown);
Result<std::optional<std::string>> read_own_file(const std::string& path, std::size_t max_size);

// "dir" of "dir/name"; "." for a bare name; "/" for "/name".
std::string parent_directory(const std::string& path);
// The last component: "name" of "dir/name".
std::string base_name(const std::string& path);

// fsync() of the directory holding `path`, so a rename into it survives a crash.
Status sync_parent_directory(const std::string& path);

} // namespace nettool::util
