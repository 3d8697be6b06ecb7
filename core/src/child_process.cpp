#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <nettool/child_process.hpp>
#include <poll.h>
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

// The groups of children not yet reaped, for signal_child_groups(), which runs in a signal
// handler: the serving threads fill and clear slots, the handler only reads them; chunks are
// appended, never freed, so the handler never meets freed memory.
struct GroupChunk {
    std::array<std::atomic<pid_t>, 256> slots{};
    std::atomic<GroupChunk*> next{nullptr};
};
GroupChunk g_groups;
static_assert(std::atomic<pid_t>::is_always_lock_free, "signal handlers need lock-free atomics");

void register_group(pid_t pgid) {
    for (GroupChunk* chunk = &g_groups;; chunk = chunk->next.load()) {
        for (auto& slot : chunk->slots) {
            pid_t empty = 0;
            if (slot.compare_exchange_strong(empty, pgid)) return;
        }
        // serve's workers register from several threads: only one new chunk may be linked.
        if (chunk->next.load() == nullptr) {
            auto* fresh = new GroupChunk;
            GroupChunk* expected = nullptr;
            if (!chunk->next.compare_exchange_strong(expected, fresh)) delete fresh;
        }
    }
}

void unregister_group(pid_t pgid) {
    for (GroupChunk* chunk = &g_groups; chunk != nullptr; chunk = chunk->next.load()) {
        for (auto& slot : chunk->slots) {
            pid_t expected = pgid;
            if (slot.compare_exchange_strong(expected, 0)) return;
        }
    }
}

// "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so the fields are
// counted from the last ')'.
bool live_member_of(const char* pid_dir, pid_t pgid) {
    std::ifstream in(std::string("/proc/") + pid_dir + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return false;
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    long parent = 0;
    long group = 0;
    if (!(fields >> state >> parent >> group)) return false;
    return group == pgid && state != 'Z' && state != 'X';
}

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
    // A group of its own: its connection's end can end everything it started.
    posix_spawnattr_setpgroup(&sa.attr, 0);
    posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                           POSIX_SPAWN_SETPGROUP);

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
    register_group(pid);
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

bool ChildProcess::exited() const {
    if (m_pid <= 0) return true;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD;
    return info.si_pid == m_pid;
}

bool ChildProcess::group_has_members() const {
    if (m_pid <= 0) return false;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return true; // cannot tell: assume so (the grace period decides)
    bool found = false;
    while (!found) {
        const dirent* entry = ::readdir(proc);
        if (entry == nullptr) break;
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
        found = live_member_of(entry->d_name, m_pid);
    }
    ::closedir(proc);
    return found;
}

void ChildProcess::signal_group(int signal_number) {
    // Only while the leader is ours (unreaped): its pid, the group's id, cannot be reused.
    if (m_pid > 0) ::kill(-m_pid, signal_number);
}

void ChildProcess::terminate() {
    signal_group(SIGTERM);
}

bool ChildProcess::reap() {
    if (m_pid <= 0) return true;
    if (!exited()) return false;
    // Out of the registry first: a signal handler must never see a pid that may be reused.
    unregister_group(m_pid);
    int status = 0;
    const pid_t rc = ::waitpid(m_pid, &status, WNOHANG);
    if (rc == m_pid || (rc < 0 && errno == ECHILD)) {
        m_status = status;
        m_pid = -1;
        m_pidfd.reset();
        return true;
    }
    register_group(m_pid); // not collected after all (cannot happen once exited)
    return false;
}

void GroupReaper::add(ChildProcess child, std::chrono::milliseconds grace) {
    child.terminate();
    const auto now = Clock::now();
    m_entries.push_back(Entry{std::move(child), now + grace, now, std::chrono::milliseconds(5)});
    (void)poll();
}

std::optional<GroupReaper::Clock::time_point> GroupReaper::poll() {
    const auto now = Clock::now();
    std::optional<Clock::time_point> next;
    for (auto it = m_entries.begin(); it != m_entries.end();) {
        Entry& e = *it;
        if (!e.killed && now >= e.kill_at) {
            e.child.signal_group(SIGKILL);
            e.killed = true;
        }
        if (now >= e.next_check || e.killed) {
            // The leader is collected once nothing is left in its group, or it was killed.
            if (e.child.exited() && (e.killed || !e.child.group_has_members()) && e.child.reap()) {
                it = m_entries.erase(it);
                continue;
            }
            e.next_check = now + e.interval;
            e.interval = std::min(e.interval * 2, std::chrono::milliseconds(200));
        }
        if (!next || e.next_check < *next) next = e.next_check;
        if (!e.killed && e.kill_at < *next) next = e.kill_at;
        ++it;
    }
    return next;
}

void GroupReaper::end_all(std::chrono::milliseconds wait) {
    const auto give_up_at = Clock::now() + wait;
    for (auto& e : m_entries) {
        e.child.terminate();
        e.kill_at = std::min(e.kill_at, give_up_at);
    }
    // Killed groups go within moments; a leader stuck in the kernel is left to init.
    const auto last = give_up_at + std::chrono::seconds(1);
    while (!m_entries.empty() && Clock::now() < last) {
        const auto next = poll();
        if (!next) break;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - Clock::now());
        ::poll(nullptr, 0, static_cast<int>(std::clamp<long long>(left.count(), 1, 20)));
    }
}

void signal_child_groups(int signal_number) noexcept {
    for (GroupChunk* chunk = &g_groups; chunk != nullptr; chunk = chunk->next.load()) {
        for (auto& slot : chunk->slots) {
            const pid_t pgid = slot.load();
            if (pgid > 0) ::kill(-pgid, signal_number);
        }
    }
}

} // namespace nettool
