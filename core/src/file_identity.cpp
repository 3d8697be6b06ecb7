#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/file_identity.hpp>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace nettool {
namespace {

std::int64_t birth_of(const struct statx& stx) {
    if ((stx.stx_mask & STATX_BTIME) == 0) return 0;
    return static_cast<std::int64_t>(stx.stx_btime.tv_sec) * 1'000'000'000 + stx.stx_btime.tv_nsec;
}

} // namespace

Result<FileIdentity> identity_of(int fd) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx) != 0) {
        const int err = errno;
        return fail_errno(ErrorKind::file_io, err,
                          fmt::format("cannot examine a file just opened: {}", errno_text(err)));
    }
    return FileIdentity{makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino, birth_of(stx)};
}

bool is_same_file(const struct statx& stx, const FileIdentity& id) {
    return FileIdentity{makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino, birth_of(stx)}
        .matches(id);
}

} // namespace nettool
