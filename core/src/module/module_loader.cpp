// In the binary: finding, checking and loading the HTTP module (see module_loader.hpp).
#include "module_loader.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <link.h>
#include <nettool/stop.hpp>
#include <nettool/unique_fd.hpp>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool::module {
namespace {

constexpr std::string_view k_file_name = "nettool-http.so";
constexpr std::string_view k_repair = "reinstall nettool";

// The binary's stop request, as the module sees it (module_host.cpp).
constexpr HostCalls k_host = {init_stop, request_stop, stop_signal, stop_fd, reset_stop_for_tests};

tl::unexpected<Error> module_error(std::string message, int err = 0) {
    return tl::unexpected(Error{ErrorKind::generic, std::move(message), err, 0});
}

// The binary's own file, symlinks resolved: /proc/self/exe, else the name it was started by.
Result<std::string> own_path() {
    char buffer[PATH_MAX];
    const ssize_t length = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    if (length > 0) return std::string(buffer, static_cast<std::size_t>(length));
    const int err = errno;
    const auto* started_as = reinterpret_cast<const char*>(::getauxval(AT_EXECFN));
    if (started_as != nullptr && ::realpath(started_as, buffer) != nullptr)
        return std::string(buffer);
    return module_error(fmt::format("cannot find nettool's HTTP module: nettool cannot tell where "
                                    "its own file is (/proc/self/exe: {}); mount /proc",
                                    errno_text(err)),
                        err);
}

std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// Why a module with these facts may not be loaded by a binary with `owner`'s, or nothing.
std::optional<std::string> unsafe_because(const struct stat& st, const TrustedOwner& owner) {
    if (!S_ISREG(st.st_mode)) return "it is not a regular file";
    if (st.st_uid != 0 && st.st_uid != owner.uid)
        return fmt::format("it belongs to user {}, not to root or to nettool's owner", st.st_uid);
    // Not easier to replace than the binary itself.
    if ((st.st_mode & S_IWOTH) != 0 && (owner.mode & S_IWOTH) == 0)
        return std::string("anyone may write to it");
    if ((st.st_mode & S_IWGRP) != 0 && !((owner.mode & S_IWGRP) != 0 && st.st_gid == owner.gid))
        return fmt::format("group {} may write to it", st.st_gid);
    return std::nullopt;
}

// Whether an object is already loaded under the name `name` (not merely from the same file).
bool name_taken(const std::string& name) {
    void* earlier = ::dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (earlier == nullptr) return false;
    link_map* map = nullptr;
    const bool taken = ::dlinfo(earlier, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr &&
                       map->l_name != nullptr && name == map->l_name;
    ::dlclose(earlier);
    return taken;
}

// dlopen() of the file open on `fd`, through /proc/self/fd/N so that the file loaded is the one
// checked. The dynamic linker knows objects by the name they were opened by: when an earlier
// object was opened through the same descriptor number, it would be taken for this one, so the
// descriptor moves to a higher number first. RTLD_NOW: a libcurl that lacks a symbol the module
// needs fails here, with dlerror()'s words, rather than in the middle of a transfer.
tl::expected<void*, std::string> open_through(UniqueFd& fd) {
    for (int attempt = 0; attempt < 64; ++attempt) {
        const std::string through = fmt::format("/proc/self/fd/{}", fd.get());
        if (name_taken(through)) {
            UniqueFd moved(::fcntl(fd.get(), F_DUPFD_CLOEXEC, fd.get() + 1));
            if (!moved) return tl::unexpected(errno_text(errno));
            fd = std::move(moved);
            continue;
        }
        if (void* handle = ::dlopen(through.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
        const char* why = ::dlerror();
        return tl::unexpected(std::string(why != nullptr ? why : "unknown error"));
    }
    return tl::unexpected(std::string("too many modules loaded"));
}

Result<LoadedModule> load_once() {
    auto exe = own_path();
    if (!exe) return tl::unexpected(exe.error());
    struct stat exe_stat {};
    if (::stat(exe->c_str(), &exe_stat) != 0) {
        const int err = errno;
        return module_error(fmt::format("cannot find nettool's HTTP module: cannot read nettool's "
                                        "own file {}: {}; {}",
                                        *exe, errno_text(err), k_repair),
                            err);
    }
    const TrustedOwner owner{exe_stat.st_uid, exe_stat.st_gid, exe_stat.st_mode};
    const auto candidates = module_candidates(directory_of(*exe));
    for (const auto& candidate : candidates) {
        auto loaded = load_module_file(candidate, NETTOOL_MODULE_KEY, owner);
        if (loaded || loaded.error().sys_errno != ENOENT) return loaded;
    }
    return module_error(
        fmt::format("nettool's HTTP module is missing: neither {} nor {} exists; {}",
                    candidates.front(), candidates.back(), k_repair),
        ENOENT);
}

} // namespace

std::vector<std::string> module_candidates(std::string_view exe_dir) {
    // The install layout's leading "../" taken off `exe_dir` (a real path: no symlink there to
    // make ".." mean something else), so that messages name the module's own path.
    const auto join = [](std::string_view dir, std::string_view name) {
        return fmt::format("{}{}{}", dir, dir.ends_with('/') ? "" : "/", name);
    };
    std::string dir(exe_dir);
    std::string_view relative = NETTOOL_MODULE_INSTALL_DIR;
    while (relative.starts_with("../")) {
        const auto slash = dir.rfind('/');
        dir.resize(slash == 0 || slash == std::string::npos ? 1 : slash); // "/.." is "/"
        relative.remove_prefix(3);
    }
    return {join(exe_dir, k_file_name), join(join(dir, relative), k_file_name)};
}

Result<LoadedModule> load_module_file(const std::string& path, std::string_view key,
                                      const TrustedOwner& owner) {
    // Checked and loaded through one descriptor, so the file checked is the file loaded.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        const int err = errno;
        return module_error(fmt::format("cannot read nettool's HTTP module {}: {}; {}", path,
                                        errno_text(err), k_repair),
                            err);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        const int err = errno;
        return module_error(fmt::format("cannot read nettool's HTTP module {}: {}; {}", path,
                                        errno_text(err), k_repair),
                            err);
    }
    if (auto why = unsafe_because(st, owner)) {
        return module_error(
            fmt::format("refusing to load nettool's HTTP module {}: {}; {}", path, *why, k_repair));
    }
    auto handle = open_through(fd);
    if (!handle) {
        return module_error(fmt::format("cannot load nettool's HTTP module {}: {}; {}", path,
                                        handle.error(), k_repair));
    }
    // A refused module is unloaded again (none of its code has been called).
    struct Refused {
        void* handle;
        ~Refused() {
            if (handle != nullptr) ::dlclose(handle);
        }
    } refused{*handle};
    const auto* module_key = static_cast<const char*>(::dlsym(*handle, "nettool_http_module_key"));
    const auto open = reinterpret_cast<decltype(&nettool_http_module_open)>(
        ::dlsym(*handle, "nettool_http_module_open"));
    if (module_key == nullptr || open == nullptr) {
        return module_error(
            fmt::format("{} is not nettool's HTTP module (it lacks nettool_http_module_key); {}",
                        path, k_repair));
    }
    const std::string_view its_key(module_key, ::strnlen(module_key, 64));
    if (its_key != key) {
        return module_error(fmt::format("nettool's HTTP module {} is from another build of nettool "
                                        "(build key {}, this nettool's is {}); {}",
                                        path, its_key, key, k_repair));
    }
    refused.handle = nullptr; // kept for good: its code may sit behind handles until exit
    const HttpModule* calls = open(&k_host);
    if (calls == nullptr) {
        return module_error(
            fmt::format("nettool's HTTP module {} could not start; {}", path, k_repair));
    }
    return LoadedModule{calls, path};
}

const Result<LoadedModule>& http_module() {
    static const Result<LoadedModule> loaded = load_once(); // thread-safe, once
    return loaded;
}

} // namespace nettool::module
