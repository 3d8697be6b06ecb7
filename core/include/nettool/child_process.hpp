#pragma once
// A child process wired through two pipes (serve --exec/--sh-exec): we write its stdin and
// read its stdout; its stderr is ours. Our pipe ends are non-blocking and close-on-exec.
// The child is watched through a pidfd (readable when it exits), so no SIGCHLD handler and
// no blocking wait is needed; reap() collects it without blocking.
#include <nettool/error.hpp>
#include <nettool/unique_fd.hpp>
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
    // A child that still runs is sent SIGTERM and left to init; see reap().
    ~ChildProcess();

    pid_t pid() const { return m_pid; }
    UniqueFd& stdin_pipe() { return m_stdin; }   // write end
    UniqueFd& stdout_pipe() { return m_stdout; } // read end
    // Readable once the child has exited; -1 if the kernel has no pidfds (poll reap() then).
    int exit_fd() const { return m_pidfd.get(); }

    // Collects the child if it has exited; true once it has been collected.
    bool reap();
    bool reaped() const { return m_pid <= 0; }
    int wait_status() const { return m_status; }
    void terminate();

  private:
    ChildProcess() = default;

    pid_t m_pid = -1;
    int m_status = 0;
    UniqueFd m_stdin;
    UniqueFd m_stdout;
    UniqueFd m_pidfd;
};

// Splits --exec's argument on whitespace (no shell, no quoting), as nc -e and ncat --exec do.
std::vector<std::string> split_command(const std::string& command);

// Finds PROGRAM in PATH (or checks it when it has a '/'); the resolved path or an error.
Result<std::string> find_program(const std::string& program);

} // namespace nettool
