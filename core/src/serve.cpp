#include "serve_internal.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/child_process.hpp>
#include <nettool/listener.hpp>
#include <nettool/pump.hpp>
#include <nettool/serve.hpp>
#include <sys/stat.h>

namespace nettool {
namespace {

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
std::optional<util::FlagsGuard> make_nonblocking(int fd) {
    auto flags = util::set_nonblocking(fd);
    if (!flags) return std::nullopt; // a closed stdin: the relay then sees EOF or an error
    return std::optional<util::FlagsGuard>(std::in_place, fd, *flags);
}

} // namespace

Status serve(const ServeOptions& options, ServeObserver& observer) {
    using serve_detail::ServeContext;
    ServeContext context{options, observer, {}, {}};
    const bool datagrams = options.endpoint.transport == Transport::udp;
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
    auto listeners =
        open_listeners(options.endpoint, ListenOptions{options.backlog, options.reuse_port});
    if (!listeners) return tl::unexpected(listeners.error());
    context.listeners = std::move(*listeners);
    for (const auto& l : context.listeners)
        observer.listening(l.transport(), l.local());

    std::optional<util::FlagsGuard> input_guard;
    std::optional<util::FlagsGuard> output_guard;
    if (options.mode == ServeMode::relay) {
        input_guard = make_nonblocking(options.input_fd);
        output_guard = make_nonblocking(options.output_fd);
    }
    return datagrams ? serve_detail::serve_datagrams(context)
                     : serve_detail::serve_streams(context);
}

} // namespace nettool
