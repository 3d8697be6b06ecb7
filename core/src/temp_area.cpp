#include <cerrno>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/temp_area.hpp>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

constexpr int k_max_symlinks = 40; // as the kernel's own limit for one path

Error unsafe(const std::string& directory, std::string_view why) {
    return Error{ErrorKind::file_io, fmt::format("temp area {} is not safe: {}; remove it or set "
                                                 "NETTOOL_TMPDIR",
                                                 directory, why)};
}

Error cannot_open(const std::string& directory, const std::string& where, int err) {
    return Error{ErrorKind::file_io,
                 fmt::format("temp area {}: cannot open {}: {}", directory, where, errno_text(err)),
                 err, 0};
}

std::string random_tag() {
    static constexpr char k_alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char bytes[6] = {};
    if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
        // getrandom cannot fail for 6 bytes once the pool is ready; mix in the pid anyway.
        for (auto& b : bytes)
            b = static_cast<unsigned char>(b ^ ::getpid() ^ std::rand());
    }
    std::string tag;
    for (const unsigned char b : bytes)
        tag += k_alphabet[b % (sizeof k_alphabet - 1)];
    return tag;
}

bool exists_at(int dir, const std::string& name) {
    struct stat st {};
    return ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

std::deque<std::string> components(std::string_view path) {
    std::deque<std::string> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        if (end > start) parts.emplace_back(path.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

// "a//b/./" -> "a/b" (a trailing "/" or "/." must not hide that "b" is a symlink); "/" stays.
std::string tidy(std::string_view path) {
    std::string out;
    if (!path.empty() && path.front() == '/') out = "/";
    for (const auto& part : components(path)) {
        if (part == ".") continue;
        if (!out.empty() && out.back() != '/') out += '/';
        out += part;
    }
    if (out.empty() && !path.empty()) out = ".";
    return out;
}

struct Parent {
    UniqueFd fd;      // the directory holding the last component (O_PATH)
    std::string last; // empty when the path ends in "." or ".." or is "/"
};

// Opens the directory that holds the area, resolving every component of the path before the
// last one itself: a symbolic link owned by root or by us (a system layout such as
// /var/run -> /run, or one we made) is followed, its target resolved the same way; a link
// anybody else owns is refused, since they could point it elsewhere at any time. Missing
// components are an error whose sys_errno is ENOENT.
Result<Parent> open_parent(const std::string& area) {
    const bool absolute = area.front() == '/';
    UniqueFd dir(::open(absolute ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return tl::unexpected(cannot_open(area, absolute ? "/" : ".", errno));
    std::deque<std::string> todo = components(area);
    std::string where = absolute ? "" : ".";
    int links = 0;
    while (!todo.empty()) {
        if (todo.size() == 1 && todo.front() != "." && todo.front() != "..") break;
        const std::string part = std::move(todo.front());
        todo.pop_front();
        if (part == ".") continue;
        where += "/" + part;
        struct stat st {};
        if (::fstatat(dir.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            return tl::unexpected(cannot_open(area, where, errno));
        if (S_ISLNK(st.st_mode)) {
            if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
                return tl::unexpected(unsafe(
                    area, fmt::format("{} is a symbolic link owned by uid {}", where, st.st_uid)));
            }
            if (++links > k_max_symlinks) return tl::unexpected(cannot_open(area, where, ELOOP));
            std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
            const ssize_t n = ::readlinkat(dir.get(), part.c_str(), target.data(), target.size());
            if (n <= 0 || static_cast<std::size_t>(n) >= target.size())
                return tl::unexpected(cannot_open(area, where, n < 0 ? errno : ELOOP));
            target.resize(static_cast<std::size_t>(n));
            auto more = components(target);
            todo.insert(todo.begin(), more.begin(), more.end());
            if (target.front() == '/') {
                dir.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
                if (!dir) return tl::unexpected(cannot_open(area, "/", errno));
                where = "";
            } else {
                where = where.substr(0, where.rfind('/'));
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode))
            return tl::unexpected(unsafe(area, fmt::format("{} is not a directory", where)));
        UniqueFd next(
            ::openat(dir.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) return tl::unexpected(cannot_open(area, where, errno));
        dir = std::move(next);
    }
    return Parent{std::move(dir), todo.empty() ? std::string() : todo.front()};
}

Status verify(const std::string& area, int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return tl::unexpected(cannot_open(area, area, errno));
    if (!S_ISDIR(st.st_mode)) return tl::unexpected(unsafe(area, "it is not a directory"));
    if (st.st_uid != ::geteuid())
        return tl::unexpected(unsafe(area, fmt::format("owned by uid {}", st.st_uid)));
    if ((st.st_mode & 07777) != 0700) {
        return tl::unexpected(
            unsafe(area, fmt::format("mode {:04o}, not 0700", st.st_mode & 07777)));
    }
    return {};
}

// The area's descriptor, verified; nullopt when it does not exist and `create` is false.
Result<std::optional<UniqueFd>> open_area(const std::string& area, bool create) {
    const auto no_area = [&](const Error& error) -> Result<std::optional<UniqueFd>> {
        if (!create) return std::optional<UniqueFd>{};
        return fail_errno(ErrorKind::file_io, error.sys_errno,
                          fmt::format("cannot create temp area {}: {}; set NETTOOL_TMPDIR to a "
                                      "writable directory",
                                      area, errno_text(error.sys_errno)));
    };
    auto parent = open_parent(area);
    if (!parent) {
        if (parent.error().sys_errno == ENOENT) return no_area(parent.error());
        return tl::unexpected(parent.error());
    }
    UniqueFd fd;
    if (parent->last.empty()) {
        fd.reset(::openat(parent->fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) return tl::unexpected(cannot_open(area, area, errno));
    } else {
        const char* last = parent->last.c_str();
        struct stat st {};
        bool created = false;
        if (::fstatat(parent->fd.get(), last, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) return tl::unexpected(cannot_open(area, area, errno));
            if (!create) return std::optional<UniqueFd>{};
            if (::mkdirat(parent->fd.get(), last, 0700) == 0) {
                created = true;
            } else if (errno != EEXIST) {
                return no_area(cannot_open(area, area, errno));
            }
            if (::fstatat(parent->fd.get(), last, &st, AT_SYMLINK_NOFOLLOW) != 0)
                return tl::unexpected(cannot_open(area, area, errno));
        }
        if (S_ISLNK(st.st_mode)) return tl::unexpected(unsafe(area, "it is a symbolic link"));
        if (!S_ISDIR(st.st_mode)) return tl::unexpected(unsafe(area, "it is not a directory"));
        fd.reset(::openat(parent->fd.get(), last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) return tl::unexpected(cannot_open(area, area, errno));
        // mkdir applies the umask; a umask such as 0277 would leave us without write access.
        if (created && ::fchmod(fd.get(), 0700) != 0) {
            return fail_errno(ErrorKind::file_io, errno,
                              fmt::format("chmod {}: {}", area, errno_text(errno)));
        }
    }
    if (auto verified = verify(area, fd.get()); !verified) return tl::unexpected(verified.error());
    return std::optional<UniqueFd>(std::move(fd));
}

} // namespace

std::string default_temp_area_path() {
    if (const char* own = std::getenv("NETTOOL_TMPDIR"); own != nullptr && *own != '\0') return own;
    std::string base = "/tmp";
    if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != '\0') base = tmp;
    while (base.size() > 1 && base.back() == '/')
        base.pop_back();
    return fmt::format("{}/nettool-{}", base, ::geteuid());
}

bool is_download_name(std::string_view name) {
    return !name.empty() && name.size() <= 255 && name.front() != '.' &&
           name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::string TempArea::path_of(std::string_view name) const {
    return m_path == "/" ? "/" + std::string(name) : m_path + "/" + std::string(name);
}

Result<TempArea> TempArea::open(std::string directory) {
    const std::string path = tidy(directory);
    if (path.empty())
        return fail(ErrorKind::file_io, "the temp area path is empty; set NETTOOL_TMPDIR");
    auto fd = open_area(path, true);
    if (!fd) return tl::unexpected(fd.error());
    return TempArea(path, std::move(**fd));
}

Result<std::optional<TempArea>> TempArea::find(std::string directory) {
    const std::string path = tidy(directory);
    if (path.empty())
        return fail(ErrorKind::file_io, "the temp area path is empty; set NETTOOL_TMPDIR");
    auto fd = open_area(path, false);
    if (!fd) return tl::unexpected(fd.error());
    if (!*fd) return std::optional<TempArea>{};
    return std::optional<TempArea>(TempArea(path, std::move(**fd)));
}

Result<AtomicOutput>
TempArea::create_output(std::string_view hint,
                        const std::function<Status(AtomicOutput&)>& record) const {
    std::string stem(hint.empty() ? std::string_view("download") : hint);
    std::string extension;
    if (const auto dot = stem.rfind('.');
        dot != std::string::npos && dot > 0 && stem.size() - dot <= 16) {
        extension = stem.substr(dot);
        stem.resize(dot);
    }
    if (stem.size() > 64) stem.resize(64); // safe_name() made it valid UTF-8; a cut is cosmetic
    while (!stem.empty() && (static_cast<unsigned char>(stem.back()) & 0xc0) == 0x80)
        stem.pop_back();
    if (!stem.empty() && (static_cast<unsigned char>(stem.back()) & 0x80) != 0) stem.pop_back();
    if (stem.empty() || stem.front() == '.') stem.insert(0, "download");
    Error last{ErrorKind::file_io, fmt::format("cannot create a file in temp area {}", m_path)};
    for (int attempt = 0; attempt < 100; ++attempt) {
        const std::string name = fmt::format("{}-{}{}", stem, random_tag(), extension);
        if (exists_at(fd(), name) || exists_at(fd(), name + ".part") ||
            exists_at(fd(), name + ".part.meta")) {
            continue;
        }
        auto output = AtomicOutput::create_unnamed(fd(), name, path_of(name),
                                                   AtomicOutputOptions{false, false, 0600});
        if (!output) {
            if (output.error().sys_errno == EEXIST) continue; // lost a race for that name
            return tl::unexpected(output.error());
        }
        if (auto recorded = record(*output); !recorded) {
            output->discard();
            if (recorded.error().sys_errno == EEXIST) continue;
            return tl::unexpected(recorded.error());
        }
        return output;
    }
    return tl::unexpected(last);
}

} // namespace nettool
