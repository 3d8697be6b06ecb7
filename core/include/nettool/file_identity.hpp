#pragma once
// Which file a name leads to, as the download storage records it (the temp-area registry, the
// NAME.part.meta sidecar) and as `clean` checks it before it touches anything: device, inode
// and, where the file system keeps one, birth time. Inode numbers are reused, so a file the
// user created after ours was deleted may carry the same device and inode; the birth time
// tells them apart.
#include <cstdint>
#include <nettool/error.hpp>

struct statx;

namespace nettool {

struct FileIdentity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t birth_ns = 0; // ns since the epoch; 0 when the file system records none

    bool known() const { return inode != 0; }
    // Same device and inode and, where both sides know it, the same birth time.
    bool matches(const FileIdentity& other) const {
        return device == other.device && inode == other.inode &&
               (birth_ns == 0 || other.birth_ns == 0 || birth_ns == other.birth_ns);
    }
};

// The identity of an open file.
Result<FileIdentity> identity_of(int fd);

// Whether `stx` (statx with STATX_BASIC_STATS | STATX_BTIME) describes the file `id` names:
// same device and inode and, where both sides know it, the same birth time.
bool is_same_file(const struct statx& stx, const FileIdentity& id);

} // namespace nettool
