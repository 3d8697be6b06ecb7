// --model fork: each connection in a forked process of its own (socketserver's ForkingMixIn),
// running one Connection on its own event loop (serve_alone). The parent watches the child's
// pidfd, reaps it the moment it exits (no zombie outlives a turn of the loop) and reads what
// the connection came to from a pipe; only then is the --max-conns slot free.
//
// The child: keeps only its socket, the pipe and the --send-file descriptor (the listeners,
// the parent's epoll instance and other children's descriptors are closed, so a stopped
// server's port is free at once); gets a stop eventfd of its own (the inherited one is the
// parent's); ignores SIGINT (a Ctrl+C at the terminal is the parent's to turn into a graceful
// stop); takes SIGTERM, which the parent sends once the grace period is over, as "end the
// connection now"; and gets SIGTERM too if the parent dies (PR_SET_PDEATHSIG), so that it and
// its --exec program's group never outlive the server.
#include "serve_model.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/stop.hpp>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace nettool::serve_detail {
namespace {

// How long a child told to end (SIGTERM) has before SIGKILL: it aborts its connection at once
// and gives its --exec program's group one second (k_program_grace) of its own.
constexpr std::chrono::milliseconds k_child_kill{3000};
constexpr std::chrono::milliseconds k_program_grace{1000};

// Closes every descriptor but `keep` (close_range over the gaps).
void close_all_but(std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned first = 0;
    for (const int fd : keep) {
        if (fd < 0) continue;
        if (static_cast<unsigned>(fd) > first)
            ::syscall(SYS_close_range, first, static_cast<unsigned>(fd) - 1, 0);
        first = std::max(first, static_cast<unsigned>(fd) + 1);
    }
    ::syscall(SYS_close_range, first, ~0U, 0);
}

// In the child, once its connection is over: the program's group gets SIGTERM, then SIGKILL
// after --grace (or after k_program_grace once the parent said to end).
void end_program(ChildProcess child, std::chrono::milliseconds grace) {
    GroupReaper reaper;
    reaper.add(std::move(child), stop_requested() ? std::chrono::milliseconds(0) : grace);
    while (!reaper.empty()) {
        if (stop_requested()) {
            reaper.end_all(k_program_grace);
            return;
        }
        const auto next = reaper.poll();
        if (!next) return;
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(*next - GroupReaper::Clock::now());
        pollfd p{stop_fd(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::clamp<long long>(left.count(), 1, 200)));
    }
}

void write_record(int fd, const std::string& record) {
    std::size_t done = 0;
    while (done < record.size()) {
        const ssize_t n = ::write(fd, record.data() + done, record.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; // the parent is gone: nobody to tell
        done += static_cast<std::size_t>(n);
    }
}

class ForkSession final : public Session {
  public:
    ForkSession(ServeContext& context, EventLoop& loop, UniqueFd socket, ConnectionInfo info,
                std::function<void()> changed)
        : m_context(context), m_loop(loop), m_socket(std::move(socket)), m_info(std::move(info)),
          m_changed(std::move(changed)) {
        m_finished.announced = !m_context.options.accept_proxy;
        m_finished.info = m_info;
    }
    ForkSession(const ForkSession&) = delete;
    ForkSession& operator=(const ForkSession&) = delete;

    ~ForkSession() override {
        if (m_pidfd && m_loop.watching(m_pidfd.get())) m_loop.remove(m_pidfd.get());
        if (m_pid > 0) { // only when the server itself fails: end it now, leave no zombie
            ::kill(m_pid, SIGKILL);
            int status = 0;
            while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }

    Status start() override;

    bool announced() const override { return m_finished.announced; }
    bool done() const override { return m_done; }
    Status outcome() const override { return m_finished.outcome; }
    std::optional<Clock::time_point> deadline() const override {
        return m_done ? std::nullopt : m_kill_at;
    }
    void on_deadline(Clock::time_point now) override {
        if (m_pid > 0 && m_kill_at && now >= *m_kill_at) {
            ::kill(m_pid, SIGKILL); // still ours: unreaped, its pid cannot be reused
            m_kill_at.reset();
        }
    }
    void abort() override {
        if (m_pid <= 0 || m_told_to_end) return;
        ::kill(m_pid, SIGTERM);
        m_told_to_end = true;
        m_kill_at = Clock::now() + k_child_kill;
    }
    std::optional<ChildProcess> take_child() override { return std::nullopt; }
    ConnectionInfo info() const override { return m_finished.info; }

  private:
    Status fail_start(int err, std::string_view what) {
        m_done = true;
        return fail_errno(kind_of_socket_errno(err), err,
                          fmt::format("cannot serve the connection from {} in a process of its "
                                      "own: {}: {}",
                                      peer_name(m_info), what, errno_text(err)));
    }
    [[noreturn]] void run_child(int report_fd, pid_t parent, const sigset_t& mask);
    void on_exit();

    ServeContext& m_context;
    EventLoop& m_loop;
    UniqueFd m_socket; // the child's; the parent closes it once the child has it
    ConnectionInfo m_info;
    std::function<void()> m_changed;
    pid_t m_pid = -1; // until reaped
    UniqueFd m_pidfd;
    UniqueFd m_report; // the read end of the child's record
    Finished m_finished;
    bool m_done = false;
    bool m_told_to_end = false;
    std::optional<Clock::time_point> m_kill_at;
};

Status ForkSession::start() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return fail_start(errno, "pipe");
    UniqueFd report_read(fds[0]);
    UniqueFd report_write(fds[1]);
    // Signals wait until the child has its own stop descriptor (and the parent is past fork).
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) run_child(report_write.get(), parent, old);
    const int fork_err = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) return fail_start(fork_err, "fork");
    m_pid = pid;
    report_write.reset();
    m_socket.reset(); // the child's now: the client sees its end when the child is done
    m_report = std::move(report_read);
    if (m_context.options.mode == ServeMode::relay) {
        // One client (the relay with thread/fork is without -k): standard input and output
        // are the child's, and the parent lets go of them, so that whoever reads standard
        // output sees its end when the child releases it, not when the parent exits.
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, m_context.options.input_fd);
            ::dup2(null, m_context.options.output_fd);
            ::close(null);
        }
    }
    m_pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    Status watched;
    if (!m_pidfd) {
        watched = fail_start(errno, "pidfd_open");
    } else {
        watched = m_loop.add(m_pidfd.get(), io::readable, [this](std::uint32_t) { on_exit(); });
        if (!watched) m_done = true;
    }
    if (!watched) { // a child nobody could wait for: ended and reaped now
        ::kill(m_pid, SIGKILL);
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
        m_pid = -1;
    }
    return watched;
}

void ForkSession::run_child(int report_fd, pid_t parent, const sigset_t& mask) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1); // the parent died before the line above
    ::signal(SIGINT, SIG_IGN);
    close_all_but({0, 1, 2, m_socket.get(), report_fd, m_context.file});
    restart_stop_after_fork();
    ::pthread_sigmask(SIG_SETMASK, &mask, nullptr);

    Finished finished = serve_alone(m_context, std::move(m_socket), m_info, stop_fd());
    if (finished.child) end_program(std::move(*finished.child), m_context.options.grace);
    finished.child.reset();
    // The relay's standard input and output get their flags back (the parent let go of them).
    m_context.input_guard.reset();
    m_context.output_guard.reset();
    write_record(report_fd, encode_finished(finished));
    ::_exit(0); // no destructors, no atexit: the parent's objects are copies, not ours
}

void ForkSession::on_exit() {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG) != 0 ||
        info.si_pid != m_pid) {
        return; // not yet (cannot happen once the pidfd is readable)
    }
    m_pid = -1;
    m_loop.remove(m_pidfd.get());
    m_pidfd.reset();
    std::string record;
    char buffer[4096];
    while (true) {
        const ssize_t n = ::read(m_report.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; // the child is gone: its end is the only writer
        record.append(buffer, static_cast<std::size_t>(n));
    }
    m_report.reset();
    if (auto decoded = decode_finished(record)) {
        m_finished = std::move(*decoded);
    } else if (!m_told_to_end) {
        const std::string how =
            info.si_code == CLD_EXITED
                ? fmt::format("exited with status {}", info.si_status)
                : fmt::format("was killed by signal {} ({})", info.si_status,
                              ::sigabbrev_np(info.si_status) ? ::sigabbrev_np(info.si_status)
                                                             : "?");
        m_finished.outcome =
            fail(ErrorKind::generic, fmt::format("the process serving the connection from {} {} "
                                                 "before it was done",
                                                 peer_name(m_info), how));
    }
    m_done = true;
    m_changed();
}

} // namespace

std::unique_ptr<Session> make_fork_session(ServeContext& context, EventLoop& loop, UniqueFd socket,
                                           ConnectionInfo info, std::function<void()> changed) {
    return std::make_unique<ForkSession>(context, loop, std::move(socket), std::move(info),
                                         std::move(changed));
}

} // namespace nettool::serve_detail
