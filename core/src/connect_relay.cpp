#include "connect_relay.hpp"

#include "duration_text.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <memory>
#include <nettool/connect.hpp>
#include <nettool/crlf.hpp>
#include <nettool/pump.hpp>
#include <nettool/stop.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <vector>

namespace nettool {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// The largest payload of one UDP datagram over IPv4/IPv6 without jumbograms.
constexpr std::size_t k_max_datagram = 65507;

bool peer_gone_while_sending(const Pump& pump) {
    return pump.failed_side() == Pump::Side::sink &&
           (pump.failed_errno() == EPIPE || pump.failed_errno() == ECONNRESET);
}

void add_fd(std::vector<pollfd>& fds, int fd, short events) {
    if (fd >= 0 && events != 0) fds.push_back(pollfd{fd, events, 0});
}

} // namespace

Status relay_connection(int socket_fd, const RelaySettings& settings) {
    HexDump* const dump = settings.hexdump;

    std::unique_ptr<Pump> up; // input -> connection
    if (settings.input_fd >= 0) {
        Pump::Options o;
        o.buffer_size = settings.datagram ? k_max_datagram : 256 * 1024;
        if (dump != nullptr) o.observe = [dump](std::span<const char> chunk) { dump->sent(chunk); };
        if (settings.crlf) {
            o.transform = [previous = '\0'](std::span<const char> in, std::string& out) mutable {
                crlf_transform(in, out, previous);
            };
            // Sent after the transform, so the dump shows what went on the wire.
            if (dump != nullptr) {
                o.observe = nullptr;
                o.transform = [dump, previous = '\0'](std::span<const char> in,
                                                      std::string& out) mutable {
                    const std::size_t before = out.size();
                    crlf_transform(in, out, previous);
                    dump->sent(std::span<const char>(out.data() + before, out.size() - before));
                };
            }
        }
        o.at_end = settings.datagram ? Pump::Options::AtEnd::nothing
                                     : Pump::Options::AtEnd::half_close_socket;
        o.source_name = "standard input";
        o.sink_name = settings.peer_name;
        up = std::make_unique<Pump>(settings.input_fd, socket_fd, std::move(o));
    } else if (!settings.datagram) {
        ::shutdown(socket_fd, SHUT_WR);
    }

    Pump::Options o;
    o.limit = settings.max_bytes;
    if (dump != nullptr) o.observe = [dump](std::span<const char> chunk) { dump->received(chunk); };
    o.at_end = Pump::Options::AtEnd::nothing;
    o.source_name = settings.peer_name;
    o.sink_name = "standard output";
    Pump down(socket_fd, settings.output_fd, std::move(o));

    const auto input_done = [&] { return !up || up->finished(); };
    auto last_activity = Clock::now();
    std::vector<pollfd> fds;
    while (!down.finished()) {
        // UDP has no end of stream: once the input is done, replies are awaited for a while.
        std::optional<milliseconds> quiet_limit = settings.idle_timeout;
        if (settings.datagram && input_done() && !quiet_limit) quiet_limit = k_udp_reply_wait;
        int timeout = -1;
        if (quiet_limit) {
            const auto left =
                std::chrono::ceil<milliseconds>(last_activity + *quiet_limit - Clock::now());
            if (left.count() <= 0) {
                if (settings.datagram && input_done()) return {};
                return fail(ErrorKind::network,
                            fmt::format("connection to {} was idle for {}; closed it",
                                        settings.peer_name, duration_text(*quiet_limit)));
            }
            timeout = static_cast<int>(std::min<long long>(left.count(), 60'000));
        }

        fds.clear();
        fds.push_back(pollfd{stop_fd(), POLLIN, 0});
        if (up && up->wants_read()) add_fd(fds, settings.input_fd, POLLIN);
        add_fd(fds, socket_fd,
               static_cast<short>((down.wants_read() ? POLLIN : 0) |
                                  (up && up->wants_write() ? POLLOUT : 0)));
        if (down.wants_write()) add_fd(fds, settings.output_fd, POLLOUT);
        const int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno != EINTR) {
            const int err = errno;
            return fail(ErrorKind::generic, fmt::format("poll: {}", errno_text(err)));
        }
        if (stop_requested()) return {}; // cmd/ turns a SIGINT into exit 130
        if (n <= 0) continue;

        const auto moved_before =
            (up ? up->bytes_in() + up->bytes_out() : 0) + down.bytes_in() + down.bytes_out();
        if (up && !up->finished()) {
            if (auto s = up->step(); !s) {
                // The peer closed its side while we were still sending: what it sent before
                // is still worth reading (the pump has already given up on this direction).
                if (!peer_gone_while_sending(*up)) {
                    if (up->failed_side() == Pump::Side::source) s.error().kind = ErrorKind::file_io;
                    return s;
                }
            }
        }
        if (auto s = down.step(); !s) {
            if (down.failed_side() == Pump::Side::sink)
                s.error().kind = ErrorKind::file_io; // stdout, not the net
            return s;
        }
        if (dump != nullptr && !dump->status()) return dump->status();
        const auto moved_after =
            (up ? up->bytes_in() + up->bytes_out() : 0) + down.bytes_in() + down.bytes_out();
        if (moved_after != moved_before) last_activity = Clock::now();
    }
    if (dump != nullptr && !dump->status()) return dump->status();
    return {};
}

} // namespace nettool
