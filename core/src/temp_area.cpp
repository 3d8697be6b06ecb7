#include <cerrno>
#include <cstdlib>
#include <fmt/format.h>
#include <nettool/temp_area.hpp>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

Error unsafe(const std::string& directory, std::string_view why) {
    return Error{ErrorKind::file_io, fmt::format("temp area {} is not safe: {}; remove it or set "
                                                 "NETTOOL_TMPDIR",
                                                 directory, why)};
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

bool exists_no_follow(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
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

Status verify_temp_area(const std::string& directory) {
    struct stat st {};
    if (::lstat(directory.c_str(), &st) != 0) {
        return fail(ErrorKind::file_io,
                    fmt::format("temp area {}: {}", directory, errno_text(errno)));
    }
    if (S_ISLNK(st.st_mode)) return tl::unexpected(unsafe(directory, "it is a symbolic link"));
    if (!S_ISDIR(st.st_mode)) return tl::unexpected(unsafe(directory, "it is not a directory"));
    if (st.st_uid != ::geteuid()) {
        return tl::unexpected(unsafe(directory, fmt::format("owned by uid {}", st.st_uid)));
    }
    if ((st.st_mode & 07777) != 0700) {
        return tl::unexpected(
            unsafe(directory, fmt::format("mode {:04o}, not 0700", st.st_mode & 07777)));
    }
    return {};
}

Result<TempArea> TempArea::open(std::string directory) {
    if (::mkdir(directory.c_str(), 0700) == 0) {
        // mkdir applies the umask; a umask such as 0277 would leave us without write access.
        if (::chmod(directory.c_str(), 0700) != 0) {
            return fail(ErrorKind::file_io,
                        fmt::format("chmod {}: {}", directory, errno_text(errno)));
        }
    } else if (errno != EEXIST) {
        return fail(ErrorKind::file_io,
                    fmt::format("cannot create temp area {}: {}; set NETTOOL_TMPDIR to a writable "
                                "directory",
                                directory, errno_text(errno)));
    }
    if (auto verified = verify_temp_area(directory); !verified)
        return tl::unexpected(verified.error());
    return TempArea(std::move(directory));
}

Result<std::optional<TempArea>> TempArea::find(std::string directory) {
    struct stat st {};
    if (::lstat(directory.c_str(), &st) != 0 && errno == ENOENT) return std::optional<TempArea>{};
    if (auto verified = verify_temp_area(directory); !verified)
        return tl::unexpected(verified.error());
    return std::optional<TempArea>(TempArea(std::move(directory)));
}

Result<AtomicOutput> TempArea::create_output(std::string_view hint) const {
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
    Error last{ErrorKind::file_io, fmt::format("cannot create a file in temp area {}", m_path)};
    for (int attempt = 0; attempt < 100; ++attempt) {
        const std::string candidate =
            fmt::format("{}/{}-{}{}", m_path, stem, random_tag(), extension);
        if (exists_no_follow(candidate) || exists_no_follow(candidate + ".part")) continue;
        auto output = AtomicOutput::open(candidate, AtomicOutputOptions{false, false, 0600});
        if (output) return output;
        last = output.error();
        // Lost a race for that name to another process: pick another.
        if (!exists_no_follow(candidate) && !exists_no_follow(candidate + ".part")) break;
    }
    return tl::unexpected(last);
}

} // namespace nettool
