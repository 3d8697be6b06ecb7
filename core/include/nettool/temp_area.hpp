#pragma once
// nettool's private temporary area: where `retrieve URL` (no FILE) saves (urlretrieve's
// temporary copy) and what `clean` (urlcleanup) empties. One directory per user:
// $NETTOOL_TMPDIR, else ${TMPDIR:-/tmp}/nettool-UID, mode 0700.
//
// Because /tmp is shared, the area is opened component by component (openat, never following
// a symbolic link another user could have planted; a trailing slash changes nothing) and
// checked on the descriptor it opened: a directory, owned by us, mode exactly 0700. Every file
// operation in the area then goes through that descriptor (openat, unlinkat, renameat), so a
// path swapped after the check cannot redirect them. Anything else is refused with a sentence
// saying how to fix it.
#include <functional>
#include <nettool/atomic_output.hpp>
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace nettool {

// $NETTOOL_TMPDIR, else ${TMPDIR:-/tmp}/nettool-<euid>.
std::string default_temp_area_path();

// Whether `name` can name a download directly inside the area: one plain component (not
// empty, no '/', no NUL, at most 255 bytes) that does not start with '.' (".", "..", the
// registry, its lock and every temporary file start with one; download names never do).
bool is_download_name(std::string_view name);

class TempArea {
  public:
    // Creates the directory (mode 0700) when missing, then opens and verifies it.
    static Result<TempArea> open(std::string directory);
    // nullopt when the directory does not exist (nothing was ever downloaded); verified else.
    static Result<std::optional<TempArea>> find(std::string directory);

    // The path as given, without trailing or doubled slashes (for messages and entries).
    const std::string& path() const { return m_path; }
    // The area's directory descriptor: every file operation in the area is relative to it.
    int fd() const { return m_fd.get(); }
    std::string path_of(std::string_view name) const;

    // A new download in the area under a unique name made from `hint` (a safe base name):
    // "report-Xa81Qz.pdf" keeps the extension so programs opening it know the type. The final
    // file gets mode 0600. `record` runs while the .part has no name yet (AtomicOutput's
    // create_unnamed): it records the download and publishes it (see Registry::add), so a
    // crash leaves either nothing or a recorded file. When `record` fails the .part is
    // removed; a name taken meanwhile (EEXIST) is retried with another.
    Result<AtomicOutput> create_output(std::string_view hint,
                                       const std::function<Status(AtomicOutput&)>& record) const;

  private:
    TempArea(std::string path, UniqueFd fd) : m_path(std::move(path)), m_fd(std::move(fd)) {}
    std::string m_path;
    UniqueFd m_fd;
};

} // namespace nettool
