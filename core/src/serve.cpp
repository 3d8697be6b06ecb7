#include "serve_internal.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/child_process.hpp>
#include <nettool/listener.hpp>
#include <nettool/pump.hpp>
#include <nettool/serve.hpp>
#include <nettool/systemd.hpp>
#include <sys/stat.h>

namespace nettool {
namespace {

using serve_detail::ServeContext;

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

} // namespace

Status serve(const ServeOptions& options, ServeObserver& observer) {
    ServeContext context{options, observer, {}, {}, false, {}, {}};
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
    if (options.mode == ServeMode::send_file) {
        auto file = open_file_to_send(options.file);
        if (!file) return tl::unexpected(file.error());
        context.file = std::move(*file);
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
    // Type=notify: the service is up once every socket listens.
    if (auto told = notify_service_manager("READY=1"); !told) observer.error(told.error());

    return datagrams ? serve_detail::serve_datagrams(context)
                     : serve_detail::serve_streams(context);
}

} // namespace nettool
