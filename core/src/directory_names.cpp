#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <nettool/directory_names.hpp>
#include <unistd.h>

namespace nettool {

std::unique_ptr<const DirectoryNames> DirectoryNames::read(int dir_fd, std::size_t most) {
    // A descriptor of its own: readdir moves the offset, and closedir closes it.
    const int own = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (own < 0) return nullptr;
    DIR* dir = ::fdopendir(own);
    if (dir == nullptr) {
        ::close(own);
        return nullptr;
    }
    auto names = std::make_unique<DirectoryNames>();
    bool complete = true;
    errno = 0;
    while (const dirent* entry = ::readdir(dir)) {
        if (names->m_names.size() >= most) {
            complete = false;
            break;
        }
        names->m_names.emplace(entry->d_name);
        errno = 0;
    }
    if (errno != 0) complete = false; // a read error ended the listing
    ::closedir(dir);
    if (!complete) return nullptr;
    return names;
}

} // namespace nettool
