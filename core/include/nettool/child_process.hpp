#pragma once
// A child process wired through two pipes (serve --exec/--sh-exec): we write its stdin and
// read its stdout; its stderr is ours. Our pipe ends are non-blocking and close-on-exec.
//
// The child leads a process group of its own (its pid is the group's id), so that everything
// it starts can be ended with it: signal_group() reaches the grandchildren of
// `sh -c 'sleep 300 & sleep 300'` too. The leader is reaped only when its owner says so; until
// then it stays (at worst a zombie) and its pid, the group's id, cannot be reused, which is
// what makes signalling the group by number safe. No SIGCHLD handler, no blocking wait.
#include <chrono>
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace nettool {

class ChildProcess {
  public:
    struct Spec {
        std::vector<std::string> argv; // argv[0] is looked up in PATH
        std::vector<std::pair<std::string, std::string>> extra_env;
    };

    static Result<ChildProcess> spawn(const Spec& spec);

    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    // A child that still runs: its group is sent SIGTERM and left (GroupReaper does better).
    ~ChildProcess();

    pid_t pid() const { return m_pid; }          // also the process group's id
    UniqueFd& stdin_pipe() { return m_stdin; }   // write end
    UniqueFd& stdout_pipe() { return m_stdout; } // read end
    // Readable once the child has exited; -1 if the kernel has no pidfds (poll reap() then).
    int exit_fd() const { return m_pidfd.get(); }

    // Whether the leader has exited (it is not collected: see reap()).
    bool exited() const;
    // Whether a live process other than a zombie leader is left in the group.
    bool group_has_members() const;
    // Sends a signal to the whole group (nothing once the leader was reaped).
    void signal_group(int signal_number);
    void terminate(); // SIGTERM to the group

    // Collects the leader if it has exited; true once it has been collected. After that the
    // group can no longer be signalled.
    bool reap();
    bool reaped() const { return m_pid <= 0; }
    int wait_status() const { return m_status; }

  private:
    ChildProcess() = default;

    pid_t m_pid = -1;
    int m_status = 0;
    UniqueFd m_stdin;
    UniqueFd m_stdout;
    UniqueFd m_pidfd;
};

// Ends the process groups of children whose connection is over: SIGTERM at once, SIGKILL to
// whatever is left after the grace period. A leader is reaped once its group is empty (or was
// killed), so the group id stays ours for as long as it may be signalled.
class GroupReaper {
  public:
    using Clock = std::chrono::steady_clock;

    // Sends SIGTERM to the child's group and takes care of it from now on.
    void add(ChildProcess child, std::chrono::milliseconds grace);
    // Reaps what has ended and SIGKILLs groups past their grace; returns when to be called
    // again (nullopt: nothing is left).
    std::optional<Clock::time_point> poll();
    bool empty() const { return m_entries.empty(); }
    std::size_t size() const { return m_entries.size(); }
    // At exit: every group left gets SIGTERM, up to `wait` to go, then SIGKILL; all reaped.
    void end_all(std::chrono::milliseconds wait);

  private:
    struct Entry {
        ChildProcess child;
        Clock::time_point kill_at;
        Clock::time_point next_check;
        std::chrono::milliseconds interval;
        bool killed = false;
    };
    std::vector<Entry> m_entries;
};

// Async-signal-safe: sends `signal_number` to the group of every child that has not been
// reaped (for a second Ctrl+C, which ends nettool at once and must not leave orphans).
void signal_child_groups(int signal_number) noexcept;

// Splits --exec's argument on whitespace (no shell, no quoting), as nc -e and ncat --exec do.
std::vector<std::string> split_command(const std::string& command);

// Finds PROGRAM in PATH (or checks it when it has a '/'); the resolved path or an error.
Result<std::string> find_program(const std::string& program);

} // namespace nettool
