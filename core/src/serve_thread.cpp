// --model thread: each connection in a thread of its own (socketserver's ThreadingMixIn),
// running one Connection on its own event loop (serve_alone). The server's loop learns of its
// end through an eventfd and joins it before giving its --max-conns slot back, so live
// threads never exceed the cap.
#include "serve_model.hpp"

#include <atomic>
#include <cstdint>
#include <fmt/format.h>
#include <sys/eventfd.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace nettool::serve_detail {
namespace {

Result<UniqueFd> make_eventfd(const ConnectionInfo& info) {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) {
        const int err = errno;
        return fail_errno(ErrorKind::file_io, err,
                          fmt::format("cannot serve the connection from {} in a thread: "
                                      "eventfd: {}",
                                      peer_name(info), errno_text(err)));
    }
    return fd;
}

void signal_fd(int fd) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(fd, &one, sizeof one);
}

class ThreadSession final : public Session {
  public:
    ThreadSession(ServeContext& context, EventLoop& loop, UniqueFd socket, ConnectionInfo info,
                  std::function<void()> changed)
        : m_context(context), m_loop(loop), m_socket(std::move(socket)), m_info(std::move(info)),
          m_changed(std::move(changed)) {
        m_finished.announced = !m_context.options.accept_proxy;
        m_finished.info = m_info;
    }
    ThreadSession(const ThreadSession&) = delete;
    ThreadSession& operator=(const ThreadSession&) = delete;

    ~ThreadSession() override {
        if (m_thread.joinable()) { // only when the server itself fails: end it now
            signal_fd(m_abort.get());
            m_thread.join();
        }
        if (m_over && m_loop.watching(m_over.get())) m_loop.remove(m_over.get());
    }

    Status start() override {
        auto abort_fd = make_eventfd(m_info);
        if (!abort_fd) return fail_start(abort_fd.error());
        auto over_fd = make_eventfd(m_info);
        if (!over_fd) return fail_start(over_fd.error());
        m_abort = std::move(*abort_fd);
        m_over = std::move(*over_fd);
        if (auto s = m_loop.add(m_over.get(), io::readable, [this](std::uint32_t) { on_over(); });
            !s) {
            return fail_start(s.error());
        }
        try {
            m_thread = std::thread([this] { run(); });
        } catch (const std::system_error& e) {
            m_loop.remove(m_over.get());
            return fail_start(Error{ErrorKind::generic,
                                    fmt::format("cannot start a thread for the connection from "
                                                "{}: {}",
                                                peer_name(m_info), lower_first(e.code().message())),
                                    e.code().value(), 0});
        }
        return {};
    }

    // Until done these are the connection as accepted; then as it ended.
    bool announced() const override { return m_finished.announced; }
    bool done() const override { return m_done; }
    Status outcome() const override { return m_finished.outcome; }
    std::optional<Clock::time_point> deadline() const override { return std::nullopt; }
    void on_deadline(Clock::time_point) override {}
    void abort() override {
        if (m_thread.joinable()) signal_fd(m_abort.get()); // the thread ends it on its loop
    }
    std::optional<ChildProcess> take_child() override {
        auto child = std::move(m_finished.child);
        m_finished.child.reset();
        return child;
    }
    ConnectionInfo info() const override { return m_finished.info; }

  private:
    // The server reports a failed start itself; the session is over at once.
    Status fail_start(Error error) {
        m_done = true;
        return tl::unexpected(std::move(error));
    }

    void run() {
        Finished finished = serve_alone(m_context, std::move(m_socket), m_info, m_abort.get());
        m_finished = std::move(finished); // the server's thread reads it only after m_ended
        m_ended.store(true, std::memory_order_release);
        signal_fd(m_over.get());
    }

    void on_over() {
        SharedState::drain(m_over.get());
        if (!m_ended.load(std::memory_order_acquire)) return;
        m_thread.join(); // it is past its last statement: a short wait at most
        m_loop.remove(m_over.get());
        m_done = true;
        m_changed();
    }

    ServeContext& m_context;
    EventLoop& m_loop;
    UniqueFd m_socket; // handed to the thread
    ConnectionInfo m_info;
    std::function<void()> m_changed;
    UniqueFd m_abort; // the thread watches it: the grace period is over
    UniqueFd m_over;  // the server watches it: the thread is done
    std::thread m_thread;
    Finished m_finished;
    std::atomic<bool> m_ended{false};
    bool m_done = false;
};

} // namespace

std::unique_ptr<Session> make_thread_session(ServeContext& context, EventLoop& loop,
                                             UniqueFd socket, ConnectionInfo info,
                                             std::function<void()> changed) {
    return std::make_unique<ThreadSession>(context, loop, std::move(socket), std::move(info),
                                           std::move(changed));
}

} // namespace nettool::serve_detail
