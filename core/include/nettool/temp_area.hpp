#pragma once
// nettool's private temporary area: where `retrieve URL` (no FILE) saves (urlretrieve's
// temporary copy) and what `clean` (urlcleanup) empties. One directory per user:
// $NETTOOL_TMPDIR, else ${TMPDIR:-/tmp}/nettool-UID, mode 0700. Because /tmp is shared, the
// directory is checked before every use: a directory (not a symlink), owned by us, mode
// exactly 0700. Anything else is refused with a sentence saying how to fix it.
#include <nettool/atomic_output.hpp>
#include <nettool/error.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace nettool {

// $NETTOOL_TMPDIR, else ${TMPDIR:-/tmp}/nettool-<euid>.
std::string default_temp_area_path();

// lstat()-based check of an existing directory; ErrorKind::file_io with e.g.
// "temp area /tmp/nettool-0 is not safe: owned by uid 1000; remove it or set NETTOOL_TMPDIR".
Status verify_temp_area(const std::string& directory);

class TempArea {
  public:
    // Creates the directory (mode 0700) when missing, then verifies it.
    static Result<TempArea> open(std::string directory);
    // nullopt when the directory does not exist (nothing was ever downloaded); verified else.
    static Result<std::optional<TempArea>> find(std::string directory);

    const std::string& path() const { return m_path; }
    std::string registry_path() const { return m_path + "/.registry.jsonl"; }
    std::string registry_lock_path() const { return m_path + "/.registry.lock"; }

    // A new download in the area under a unique name made from `hint` (a safe base name):
    // "report-Xa81Qz.pdf" keeps the extension so programs opening it know the type. The final
    // file gets mode 0600.
    Result<AtomicOutput> create_output(std::string_view hint) const;

  private:
    explicit TempArea(std::string path) : m_path(std::move(path)) {}
    std::string m_path;
};

} // namespace nettool
