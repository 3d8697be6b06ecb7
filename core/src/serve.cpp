#include "serve_internal.hpp"
#include "serve_model.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <mutex>
#include <nettool/child_process.hpp>
#include <nettool/listener.hpp>
#include <nettool/pump.hpp>
#include <nettool/resolve.hpp>
#include <nettool/serve.hpp>
#include <nettool/systemd.hpp>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace nettool {
namespace serve_detail {

Result<int> SharedState::add_worker() {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) {
        const int err = errno;
        return fail(
            ErrorKind::file_io,
            fmt::format("cannot create a worker's wake-up descriptor: {}", errno_text(err)));
    }
    m_wake.push_back(std::move(fd));
    return m_wake.back().get();
}

bool SharedState::take_slot() {
    if (!m_max) return true;
    std::size_t open = m_open.load();
    do {
        if (open >= *m_max) return false;
    } while (!m_open.compare_exchange_weak(open, open + 1));
    return true;
}

void SharedState::give_slot() {
    if (!m_max) return;
    if (m_open.fetch_sub(1) == *m_max) wake_all(); // was full: the workers stopped accepting
}

void SharedState::stop_all() {
    m_stopping.store(true);
    wake_all();
}

void SharedState::wake_all() {
    const std::uint64_t one = 1;
    for (const auto& fd : m_wake)
        [[maybe_unused]] auto ignored = ::write(fd.get(), &one, sizeof one);
}

void SharedState::drain(int wake_fd) {
    std::uint64_t value = 0;
    [[maybe_unused]] auto ignored = ::read(wake_fd, &value, sizeof value);
}

} // namespace serve_detail

namespace {

using serve_detail::ServeContext;
using serve_detail::SharedState;

// The workers call the observer from their threads; it is cmd/'s, written for one thread.
class LockedObserver final : public ServeObserver {
  public:
    explicit LockedObserver(ServeObserver& inner) : m_inner(inner) {}
    void listening(Transport t, const SocketAddress& local) override {
        std::lock_guard lock(m_mutex);
        m_inner.listening(t, local);
    }
    void connection(const ConnectionInfo& info) override {
        std::lock_guard lock(m_mutex);
        m_inner.connection(info);
    }
    void closed(const ConnectionInfo& info) override {
        std::lock_guard lock(m_mutex);
        m_inner.closed(info);
    }
    void denied(const ConnectionInfo& info) override {
        std::lock_guard lock(m_mutex);
        m_inner.denied(info);
    }
    void error(const Error& error) override {
        std::lock_guard lock(m_mutex);
        m_inner.error(error);
    }
    void note(std::string_view message) override {
        std::lock_guard lock(m_mutex);
        m_inner.note(message);
    }
    void tls_certificate(const std::string& fingerprint, bool self_signed) override {
        std::lock_guard lock(m_mutex);
        m_inner.tls_certificate(fingerprint, self_signed);
    }

  private:
    ServeObserver& m_inner;
    std::mutex m_mutex;
};

// --send-file is checked before anything listens: a missing file is the user's to fix (3).
Result<UniqueFd> open_file_to_send(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        const int err = errno;
        return fail(ErrorKind::file_io,
                    fmt::format("cannot open '{}' to send: {}", path, errno_text(err)));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return fail(ErrorKind::file_io,
                    fmt::format("'{}' is not a regular file; --send-file sends a file's "
                                "contents",
                                path));
    }
    return fd;
}

// Relay reads stdin and writes stdout without blocking the loop; the flags are shared with
// the shell that started us, so they are put back on the way out.
Status prepare_relay(ServeContext& context) {
    const auto& options = context.options;
    const int output_flags = ::fcntl(options.output_fd, F_GETFL);
    if (output_flags < 0 || (output_flags & O_ACCMODE) == O_RDONLY) {
        return fail(ErrorKind::file_io, "standard output is closed or not writable; the relay "
                                        "writes the client's data there (redirect it, e.g. to "
                                        "a file or /dev/null)");
    }
    const int input_flags = ::fcntl(options.input_fd, F_GETFL);
    // A closed (or write-only) stdin reads as empty: the client gets end-of-file at once.
    context.input_open = input_flags >= 0 && (input_flags & O_ACCMODE) != O_WRONLY;
    if (context.input_open) {
        auto set = util::set_nonblocking(options.input_fd);
        if (!set) return tl::unexpected(set.error());
        context.input_guard.emplace(options.input_fd, *set);
    }
    auto set = util::set_nonblocking(options.output_fd);
    if (!set) return tl::unexpected(set.error());
    context.output_guard.emplace(options.output_fd, *set);
    return {};
}

// Each connection is a descriptor, and the soft limit is often 1024 (kept low for programs
// that use select()): serve raises it to the hard limit, as servers do. Not for --exec, whose
// programs would inherit it.
void raise_descriptor_limit(ServeMode mode) {
    if (mode == ServeMode::exec || mode == ServeMode::sh_exec) return;
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    const rlim_t wanted = limit.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : limit.rlim_max;
    if (limit.rlim_cur >= wanted) return;
    limit.rlim_cur = wanted;
    ::setrlimit(RLIMIT_NOFILE, &limit); // refused: the limit stays, accept() will say so
}

Status run_worker(ServeContext& context) {
    // The listeners decide, not the endpoint: passed sockets may be of either kind.
    const bool datagrams = context.listeners.front().transport() == Transport::udp;
    Status s =
        datagrams ? serve_detail::serve_datagrams(context) : serve_detail::serve_streams(context);
    if (!s) context.shared.stop_all();
    return s;
}

// The listening sockets of worker `index`: its own, bound with SO_REUSEPORT to the first
// worker's port (the kernel spreads connections among them). A Unix path can be bound only
// once, and sockets systemd passed are the service's only ones: there the workers share the
// first worker's sockets (each connection is still accepted by one worker).
Result<std::vector<Listener>> worker_listeners(const ServeOptions& options,
                                               const std::vector<Listener>& first, bool passed) {
    if (passed || options.endpoint.transport == Transport::unix_stream) {
        std::vector<Listener> out;
        for (const auto& l : first) {
            UniqueFd fd(::fcntl(l.fd(), F_DUPFD_CLOEXEC, 0));
            if (!fd) {
                const int err = errno;
                return fail(ErrorKind::file_io, fmt::format("cannot share {} with a worker: {}",
                                                            l.local().display(), errno_text(err)));
            }
            out.emplace_back(std::move(fd), l.transport(), l.local());
        }
        return out;
    }
    Endpoint endpoint = options.endpoint;
    endpoint.port = first.front().local().port();
    return open_listeners(endpoint, ListenOptions{options.backlog, true});
}

// --to: every target is resolved once, before anything listens (a name that does not resolve
// is an error now, not a surprise at the first client); each connection races the addresses.
Result<std::vector<serve_detail::ForwardTarget>> resolve_targets(const ServeOptions& options) {
    std::vector<serve_detail::ForwardTarget> targets;
    if (options.mode != ServeMode::forward) return targets;
    if (options.targets.empty())
        return fail(ErrorKind::usage, "--to needs at least one target, such as --to 127.0.0.1:80");
    for (const Endpoint& ep : options.targets) {
        serve_detail::ForwardTarget target;
        if (ep.transport == Transport::unix_stream) {
            target.name = ep.display();
            target.addresses.push_back(SocketAddress::unix_socket(ep));
        } else if (ep.transport == Transport::udp) {
            return fail(ErrorKind::usage,
                        fmt::format("--to {}: the forwarder joins stream connections; give a "
                                    "TCP or Unix target",
                                    ep.display()));
        } else {
            target.name = format_host_port(ep.host, ep.port);
            auto resolved = resolve(ep.host, ep.port, Transport::tcp, Family::any);
            if (!resolved) return tl::unexpected(resolved.error());
            target.addresses = interleave_families(*resolved);
        }
        if (options.to_tls) {
            if (ep.transport != Transport::tcp) {
                return fail(ErrorKind::usage,
                            fmt::format("--to-tls runs over TCP; the target {} is a Unix socket "
                                        "(forward to it without --to-tls)",
                                        target.name));
            }
            // Each target's certificate is checked for its own host as written.
            tls::ClientSettings settings = *options.to_tls;
            settings.host = ep.host;
            auto made = tls::Context::client(settings);
            if (!made) return tl::unexpected(made.error());
            target.tls.emplace(std::move(*made));
        }
        targets.push_back(std::move(target));
    }
    return targets;
}

// --model thread|fork: where a thread or a process per connection makes sense.
Status check_model(const ServeOptions& options, bool datagrams) {
    if (options.model == ServeModel::event) return {};
    const char* name = options.model == ServeModel::thread ? "thread" : "fork";
    if (datagrams) {
        return fail(ErrorKind::usage,
                    fmt::format("--model {}: UDP has no connections to hand to a {}; UDP is "
                                "served by the event loop (leave out --model)",
                                name, options.model == ServeModel::thread ? "thread" : "process"));
    }
    if (options.workers > 1) {
        return fail(ErrorKind::usage,
                    fmt::format("--workers runs several event loops, --model {} a {} per "
                                "connection; choose one of them",
                                name, options.model == ServeModel::thread ? "thread" : "process"));
    }
    if (options.mode == ServeMode::relay && options.keep_open) {
        return fail(ErrorKind::usage,
                    fmt::format("--model {} serves clients side by side, but the relay has one "
                                "standard input and output and serves them one at a time; use "
                                "the relay with -k in the event model (leave out --model), or "
                                "--model {} with another mode",
                                name, name));
    }
    return {};
}

// Type=notify: the service is up once every socket listens (and every worker runs).
void tell_service_manager_ready(ServeObserver& observer) {
    if (auto told = notify_service_manager("READY=1"); !told) observer.error(told.error());
}

// --tls: said once, after the listening lines (the fingerprint is what a client checks a
// self-signed certificate by).
void announce_certificate(const ServeOptions& options, const tls::Context* tls,
                          ServeObserver& observer) {
    if (tls != nullptr) observer.tls_certificate(tls->fingerprint(), options.tls->self_signed);
}

Status serve_with_workers(const ServeOptions& options, ServeObserver& observer, int file,
                          const std::vector<serve_detail::ForwardTarget>& targets,
                          std::optional<ActivatedSockets> activated, const tls::Context* tls) {
    LockedObserver locked(observer);
    SharedState shared(options.max_conns);
    std::vector<std::unique_ptr<ServeContext>> contexts;
    for (unsigned i = 0; i < options.workers; ++i) {
        auto context = std::make_unique<ServeContext>(options, locked, shared);
        context->file = file;
        context->targets = &targets;
        context->tls = tls;
        auto wake = shared.add_worker();
        if (!wake) return tl::unexpected(wake.error());
        context->wake_fd = *wake;
        auto loop = EventLoop::create();
        if (!loop) return tl::unexpected(loop.error());
        context->loop.emplace(std::move(*loop));
        if (i == 0 && activated) {
            context->listeners = std::move(activated->listeners);
        } else {
            auto listeners =
                i == 0
                    ? open_listeners(options.endpoint, ListenOptions{options.backlog, true})
                    : worker_listeners(options, contexts.front()->listeners, activated.has_value());
            if (!listeners) return tl::unexpected(listeners.error());
            context->listeners = std::move(*listeners);
        }
        contexts.push_back(std::move(context));
    }
    if (activated) locked.note(activation_note(*activated, options.endpoint));
    for (const auto& l : contexts.front()->listeners)
        locked.listening(l.transport(), l.local());
    announce_certificate(options, tls, locked);

    std::vector<Status> results(contexts.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts.size(); ++i) {
        try {
            threads.emplace_back([&, i] { results[i] = run_worker(*contexts[i]); });
        } catch (const std::system_error& e) {
            results[i] = fail(ErrorKind::generic,
                              fmt::format("cannot start worker {} of {}: {}", i + 1,
                                          options.workers, lower_first(e.code().message())));
            shared.stop_all();
            break;
        }
    }
    if (!shared.stopping()) {
        tell_service_manager_ready(locked);
        results[0] = run_worker(*contexts[0]);
    }
    for (auto& t : threads)
        t.join();
    for (auto& r : results) {
        if (!r) return r;
    }
    return {};
}

} // namespace

Status serve(const ServeOptions& options, ServeObserver& observer) {
    // Started by systemd with sockets (LISTEN_FDS): serve those; the endpoint is not bound.
    auto activated = activated_sockets();
    if (!activated) return tl::unexpected(activated.error());
    const bool datagrams = *activated
                               ? (*activated)->listeners.front().transport() == Transport::udp
                               : options.endpoint.transport == Transport::udp;
    if (datagrams && (options.mode == ServeMode::send_file || options.mode == ServeMode::exec ||
                      options.mode == ServeMode::sh_exec)) {
        return fail(ErrorKind::usage,
                    "UDP serves --echo, --greet or the relay; --send-file, --exec and --sh-exec "
                    "need a stream (TCP or Unix) endpoint");
    }
    if (options.workers == 0) return fail(ErrorKind::usage, "--workers needs at least 1 worker");
    if (options.workers > 1 && options.mode == ServeMode::relay) {
        return fail(ErrorKind::usage,
                    "the relay has one standard input and output and serves one client at a "
                    "time; use --workers with --greet, --echo, --send-file, --exec or --sh-exec");
    }
    if (options.workers > 1 && !options.keep_open) {
        return fail(ErrorKind::usage, "--workers serves many clients at once; add -k (without "
                                      "it serve serves one client and exits)");
    }
    // Workers share passed sockets; a UDP socket read by several workers would hand one peer's
    // datagrams to any of them, each with its own idea of the peer.
    if (options.workers > 1 && *activated && datagrams) {
        return fail(ErrorKind::usage,
                    "socket activation: a passed UDP socket cannot be split among --workers; "
                    "run one worker, or bind the port yourself (no socket unit) to get one "
                    "SO_REUSEPORT socket per worker");
    }
    if (auto s = check_model(options, datagrams); !s) return s;
    UniqueFd file;
    if (options.mode == ServeMode::send_file) {
        auto opened = open_file_to_send(options.file);
        if (!opened) return tl::unexpected(opened.error());
        file = std::move(*opened);
    }
    if (options.mode == ServeMode::exec) {
        const auto words = split_command(options.command);
        if (words.empty())
            return fail(ErrorKind::usage, "--exec needs a program to run, such as --exec 'cat -n'");
        if (auto found = find_program(words.front()); !found) {
            return fail(ErrorKind::usage, fmt::format("--exec: {}", found.error().message));
        }
    }
    if (options.mode == ServeMode::sh_exec && options.command.empty()) {
        return fail(ErrorKind::usage,
                    "--sh-exec needs a command, such as --sh-exec 'date; uptime'");
    }
    if (datagrams && options.accept_proxy) {
        return fail(ErrorKind::usage, "--accept-proxy reads a header at the start of a stream; "
                                      "use a TCP or Unix endpoint");
    }
    if (datagrams && options.mode == ServeMode::forward) {
        return fail(ErrorKind::usage,
                    "--to forwards stream connections; listen on a TCP or Unix endpoint");
    }
    if (datagrams && options.tls) {
        return fail(ErrorKind::usage, "--tls runs over stream connections; listen on a TCP (or "
                                      "Unix) endpoint, not UDP");
    }
    auto targets = resolve_targets(options);
    if (!targets) return tl::unexpected(targets.error());
    // The certificate and key are read (and the TLS library loaded) before anything listens:
    // a missing file is an error now, not at the first client.
    std::optional<tls::Context> tls_context;
    if (options.tls) {
        auto made = tls::Context::server(*options.tls);
        if (!made) return tl::unexpected(made.error());
        tls_context.emplace(std::move(*made));
    }
    const tls::Context* tls = tls_context ? &*tls_context : nullptr;
    raise_descriptor_limit(options.mode);
    if (options.workers > 1) {
        return serve_with_workers(options, observer, file.get(), *targets, std::move(*activated),
                                  tls);
    }

    // A thread per connection calls the observer from many threads; cmd/'s is for one.
    LockedObserver locked(observer);
    SharedState shared(serve_detail::connection_cap(options));
    ServeContext context(options, options.model == ServeModel::thread ? locked : observer, shared);
    context.file = file.get();
    context.targets = &*targets;
    context.tls = tls;
    auto loop = EventLoop::create();
    if (!loop) return tl::unexpected(loop.error());
    context.loop.emplace(std::move(*loop));
    if (options.mode == ServeMode::relay) {
        if (auto ready = prepare_relay(context); !ready) return ready;
    }
    if (*activated) {
        context.listeners = std::move((*activated)->listeners);
        observer.note(activation_note(**activated, options.endpoint));
    } else {
        auto listeners =
            open_listeners(options.endpoint, ListenOptions{options.backlog, options.reuse_port});
        if (!listeners) return tl::unexpected(listeners.error());
        context.listeners = std::move(*listeners);
    }
    for (const auto& l : context.listeners)
        observer.listening(l.transport(), l.local());
    announce_certificate(options, tls, observer);
    tell_service_manager_ready(observer);
    return run_worker(context);
}

} // namespace nettool
