#pragma once
// fsyncs of a directory shared by the commits that need one at the same time (group commit):
// many files renamed into one directory at once cost one fsync of it between them, not one
// each, and each caller still returns only once an fsync that began after its rename has
// ended. retrieve -i shares one among its downloads. Thread-safe.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <nettool/error.hpp>
#include <string>
#include <sys/types.h>
#include <utility>

namespace nettool {

class DirectorySyncs {
  public:
    // fsync of `dir_fd`'s directory, or of a later one shared with other callers; `shown`
    // names it in the error.
    Status sync(int dir_fd, const std::string& shown);

  private:
    struct Group {
        std::uint64_t requested = 0; // tickets handed out
        std::uint64_t done = 0;      // tickets an ended fsync covers
        bool running = false;
        // The last fsync that failed: the tickets it covered and its errno.
        std::uint64_t failed_from = 0;
        std::uint64_t failed_to = 0;
        int failed_errno = 0;
    };
    std::mutex m_mutex;
    std::condition_variable m_ended;
    std::map<std::pair<dev_t, ino_t>, Group> m_groups;
};

} // namespace nettool
