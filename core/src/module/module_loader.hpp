#pragma once
// In the binary: finds, checks and loads the HTTP module (nettool-http.so) on first use.
//
// Where: only next to the binary's own file (/proc/self/exe, symlinks resolved), never through
// LD_LIBRARY_PATH, the current directory or an environment variable, which would let another
// user's file in. First beside the binary (the build tree), then in the install layout
// (NETTOOL_MODULE_INSTALL_DIR relative to the binary's directory, e.g.
// ../lib/x86_64-linux-gnu/nettool). The first that exists is the one used.
// What: the file is opened once and checked on its descriptor (a regular file, owned by root or
// by the binary's owner, not writable by anyone the binary is not writable by), loaded through
// that same descriptor, and used only if its key is this build's (http_module.hpp).
// Failing that, one sentence (ErrorKind::generic, exit 1) says which file and why, and how to
// repair it.
#include "http_module.hpp"

#include <nettool/error.hpp>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace nettool::module {

struct LoadedModule {
    const HttpModule* calls = nullptr;
    std::string path;
};

// The module of this process, loaded by the first call (thread-safe; never unloaded). Every
// later call returns the same module or the same error.
const Result<LoadedModule>& http_module();

// The places looked at for a binary in `exe_dir`, in order.
std::vector<std::string> module_candidates(std::string_view exe_dir);

// Who may own the module and how writable it may be: the binary's file's.
struct TrustedOwner {
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t mode = 0; // the binary's permission bits
};

// Checks and loads the module at `path` expecting `key`. nullopt-like "absent" is reported as
// an error whose sys_errno is ENOENT, so the caller can go on to the next candidate.
Result<LoadedModule> load_module_file(const std::string& path, std::string_view key,
                                      const TrustedOwner& owner);

} // namespace nettool::module
