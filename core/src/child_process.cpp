#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/child_process.hpp>
#include <spawn.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace nettool {
namespace {

struct SpawnAttributes {
    posix_spawnattr_t attr{};
    posix_spawn_file_actions_t actions{};
    SpawnAttributes() {
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_init(&actions);
    }
    ~SpawnAttributes() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
    SpawnAttributes(const SpawnAttributes&) = delete;
    SpawnAttributes& operator=(const SpawnAttributes&) = delete;
};

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        const int err = errno;
        return fail(kind_of_socket_errno(err),
                    fmt::format("cannot create a pipe for the child: {}", errno_text(err)));
    }
    return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

} // namespace

std::vector<std::string> split_command(const std::string& command) {
    std::vector<std::string> out;
    std::istringstream in(command);
    for (std::string word; in >> word;)
        out.push_back(word);
    return out;
}

Result<std::string> find_program(const std::string& program) {
    const auto usable = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
               ::access(path.c_str(), X_OK) == 0;
    };
    if (program.find('/') != std::string::npos) {
        if (usable(program)) return program;
        return fail(ErrorKind::usage,
                    fmt::format("program '{}' does not exist or is not executable", program));
    }
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        if (usable(candidate)) return candidate;
    }
    return fail(ErrorKind::usage,
                fmt::format("program '{}' was not found in PATH; give its full path", program));
}

Result<ChildProcess> ChildProcess::spawn(const Spec& spec) {
    if (spec.argv.empty()) return fail(ErrorKind::usage, "no program to run");
    auto to_child = make_pipe();
    if (!to_child) return tl::unexpected(to_child.error());
    auto from_child = make_pipe();
    if (!from_child) return tl::unexpected(from_child.error());

    SpawnAttributes sa;
    posix_spawn_file_actions_adddup2(&sa.actions, to_child->first.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&sa.actions, from_child->second.get(), STDOUT_FILENO);
    // nettool ignores SIGPIPE; a child must not inherit that (`yes | head` would never end).
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigdefault(&sa.attr, &defaults);
    posix_spawnattr_setsigmask(&sa.attr, &empty);
    posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::vector<std::string> env_strings;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string entry(*e);
        bool replaced = false;
        for (const auto& [name, value] : spec.extra_env)
            replaced = replaced || entry.starts_with(name + "=");
        if (!replaced) env_strings.push_back(entry);
    }
    for (const auto& [name, value] : spec.extra_env)
        env_strings.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& s : env_strings)
        envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = spec.argv;
    std::vector<char*> argv;
    for (auto& s : args)
        argv.push_back(s.data());
    argv.push_back(nullptr);

    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, argv[0], &sa.actions, &sa.attr, argv.data(), envp.data());
    if (rc != 0) {
        return fail(rc == ENOENT || rc == EACCES ? ErrorKind::usage : ErrorKind::generic,
                    fmt::format("cannot run '{}': {}", spec.argv[0], errno_text(rc)));
    }
    ChildProcess child;
    child.m_pid = pid;
    child.m_stdin = std::move(to_child->second);
    child.m_stdout = std::move(from_child->first);
    // The child's ends are closed here (they live on in the child only).
    to_child->first.reset();
    from_child->second.reset();
    child.m_pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (child.m_pidfd) ::fcntl(child.m_pidfd.get(), F_SETFD, FD_CLOEXEC);
    for (const int fd : {child.m_stdin.get(), child.m_stdout.get()}) {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : m_pid(std::exchange(other.m_pid, -1)), m_status(other.m_status),
      m_stdin(std::move(other.m_stdin)), m_stdout(std::move(other.m_stdout)),
      m_pidfd(std::move(other.m_pidfd)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        terminate();
        m_pid = std::exchange(other.m_pid, -1);
        m_status = other.m_status;
        m_stdin = std::move(other.m_stdin);
        m_stdout = std::move(other.m_stdout);
        m_pidfd = std::move(other.m_pidfd);
    }
    return *this;
}

ChildProcess::~ChildProcess() {
    if (!reap()) terminate();
}

bool ChildProcess::reap() {
    if (m_pid <= 0) return true;
    int status = 0;
    const pid_t rc = ::waitpid(m_pid, &status, WNOHANG);
    if (rc == m_pid || (rc < 0 && errno == ECHILD)) {
        m_status = status;
        m_pid = -1;
        m_pidfd.reset();
        return true;
    }
    return false;
}

void ChildProcess::terminate() {
    // Through the pidfd when there is one: the pid cannot have been reused meanwhile.
    if (m_pid <= 0) return;
    if (m_pidfd)
        ::syscall(SYS_pidfd_send_signal, m_pidfd.get(), SIGTERM, nullptr, 0);
    else
        ::kill(m_pid, SIGTERM);
}

} // namespace nettool
