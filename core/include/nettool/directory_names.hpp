#pragma once
// The names in one directory, read once, so that a list of downloads into it does not look
// up, file by file, names that were not there: for a file name and its .part those are two
// lookups that fail, about 7 % of the CPU of 1000 small files over TLS. Only an early
// answer: what appears later is still never replaced (linkat() and O_EXCL refuse it).
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_set>

namespace nettool {

class DirectoryNames {
  public:
    // The names in the directory `dir_fd`, or nullptr when it holds more than `most`
    // entries (reading them would cost more than the lookups it spares) or cannot be read.
    static std::unique_ptr<const DirectoryNames> read(int dir_fd, std::size_t most);

    // True when `name` was not in the directory when it was read.
    bool absent(const std::string& name) const { return !m_names.contains(name); }

  private:
    std::unordered_set<std::string> m_names;
};

} // namespace nettool
