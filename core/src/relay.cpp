#include "relay.hpp"

#include "util/check.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/kcmp.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace nettool {
namespace {

bool is_socket(int fd) {
    struct stat st {};
    return fd >= 0 && ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

// A local descriptor's failure is the local side's (exit 3), unless it is a socket too (a
// forwarder's second connection), which makes it a network failure.
ErrorKind kind_of_local(int fd) {
    return is_socket(fd) ? ErrorKind::network : ErrorKind::file_io;
}

int pending_socket_error(int fd) {
    int err = 0;
    socklen_t length = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0) return 0;
    return err;
}

// Whether two descriptors share one open file description (and so its flags): kcmp(2), or
// where that is not allowed, the same file.
bool share_description(int a, int b) {
    const pid_t self = ::getpid();
    const long same = ::syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);
    if (same >= 0) return same == 0;
    struct stat sa {};
    struct stat sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

// Lets go of a shared output so that its reader sees end-of-file now, while the descriptor
// number stays taken (nothing opened later may land on standard output by accident). Its
// flags go back first, unless the input still being read shares them (a socket or terminal
// on both): the input's guard restores them at the end instead.
void release_output(int fd, std::optional<util::FlagsGuard>* guard, int input_in_use) {
    if (guard != nullptr && (input_in_use < 0 || !share_description(fd, input_in_use)))
        guard->reset();
    UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (null) ::dup2(null.get(), fd);
}

// Linux's splice into a socket sends in batches and, when a later batch meets a reset, returns
// the bytes of the earlier ones: the reset's error is taken and lost, and reads then see a
// plain end of stream. The kernel counts a received FIN as one byte in tcpi_bytes_received,
// so a connection that is torn down (TCP_CLOSE) having received exactly the bytes we read
// never sent its FIN: it was reset before the end of its data.
bool reset_without_fin(int fd, std::uint64_t bytes_read) {
    constexpr std::uint8_t k_tcp_close = 7; // TCP_CLOSE (the kernel's tcp_states.h)
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return false; // not TCP
    if (length < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received)
        return false;
    return info.tcpi_state == k_tcp_close && info.tcpi_bytes_received == bytes_read;
}

} // namespace

Result<std::unique_ptr<Channel>> open_channel(int source_fd, int sink_fd, Pump::Options options,
                                              Splice splice) {
    const bool plain = !options.limit && !options.observe && !options.transform;
    if (splice == Splice::where_possible && plain && SplicePump::suitable_source(source_fd) &&
        SplicePump::suitable_sink(sink_fd)) {
        auto spliced = SplicePump::create(source_fd, sink_fd, std::move(options));
        if (!spliced) return tl::unexpected(spliced.error());
        return make_channel(std::move(*spliced));
    }
    return make_channel(Pump(source_fd, sink_fd, std::move(options)));
}

Relay::Relay(EventLoop& loop, Settings settings, std::function<void()> changed)
    : m_loop(loop), m_from_peer(std::move(settings.from_peer)),
      m_to_peer(std::move(settings.to_peer)), m_settings(std::move(settings)),
      m_changed(std::move(changed)) {
    NETTOOL_CHECK(m_from_peer != nullptr && m_settings.peer_fd >= 0);
}

Relay::~Relay() {
    for (const int fd : std::vector<int>(m_watched))
        unwatch(fd);
}

void Relay::watch(int fd) {
    if (fd < 0 || std::find(m_watched.begin(), m_watched.end(), fd) != m_watched.end()) return;
    // The handler calls m_changed last: the owner may end the relay in there.
    auto added = m_loop.add(fd, 0, [this, fd](std::uint32_t ready) {
        on_ready(fd, ready);
        if (m_changed) m_changed();
    });
    if (added) m_watched.push_back(fd);
}

void Relay::unwatch(int fd) {
    const auto it = std::find(m_watched.begin(), m_watched.end(), fd);
    if (it == m_watched.end()) return;
    m_loop.remove(fd);
    m_watched.erase(it);
}

void Relay::start() {
    watch(m_settings.peer_fd);
    watch(m_from_peer->sink_fd());
    if (m_to_peer) watch(m_to_peer->source_fd());
    step();
}

std::uint64_t Relay::bytes_to_peer() const {
    if (m_to_peer) return m_to_peer->bytes_out();
    // echo: the peer's bytes go back to it
    return m_from_peer->sink_fd() == m_settings.peer_fd ? m_from_peer->bytes_out() : 0;
}

std::uint64_t Relay::moved() const {
    std::uint64_t total = m_from_peer->bytes_in() + m_from_peer->bytes_out();
    if (m_to_peer) total += m_to_peer->bytes_in() + m_to_peer->bytes_out();
    return total;
}

void Relay::on_ready(int fd, std::uint32_t ready) {
    if (m_done) return;
    const bool hung_up = (ready & (io::hangup | io::error)) != 0;
    if (hung_up && fd == m_settings.peer_fd) m_peer_hung_up = true;
    if (hung_up && m_settings.output_may_leave && m_from_peer && fd == m_from_peer->sink_fd())
        m_output_left = true;
    step();
}

void Relay::step() {
    if (m_done) return;
    // The peer's data first: what arrived before a reset is delivered before the reset counts.
    if (!m_from_peer->finished()) {
        if (m_output_left) {
            m_from_peer->abandon(); // nobody reads it any more: drop the rest quietly
        } else if (auto s = m_from_peer->step(); !s) {
            from_peer_failed(std::move(s));
        }
    }
    after_from_peer();
    if (m_to_peer && !m_to_peer->finished()) {
        if (auto s = m_to_peer->step(); !s) to_peer_failed(std::move(s));
    }
    // A hang-up with nothing to write: the connection is closed or reset; SO_ERROR says which.
    if (m_peer_hung_up && m_to_peer && !m_to_peer->finished() && !m_settings.datagram) {
        m_to_peer->abandon();
        peer_gone(pending_socket_error(m_settings.peer_fd));
    }
    after_to_peer();
    after_from_peer(); // a hard error in to_peer ends from_peer too
    if (m_from_peer->finished() && (!m_to_peer || m_to_peer->finished())) {
        finish();
        return;
    }
    update_interest();
}

void Relay::from_peer_failed(Status status) {
    if (m_from_peer->failed_side() == Pump::Side::source) {
        // Reading the peer failed: it is gone either way, nothing more can be sent.
        if (m_to_peer) m_to_peer->abandon();
        if (m_from_peer->failed_errno() == ECONNRESET) {
            cut_short(); // a reset before its FIN (after the FIN reads return 0)
        } else {
            record(std::move(status));
        }
        return;
    }
    if (m_settings.output_may_leave && m_from_peer->failed_errno() == EPIPE) return; // quiet
    status.error().kind = kind_of_local(m_from_peer->sink_fd());
    record(std::move(status));
    if (m_to_peer) m_to_peer->abandon();
}

void Relay::to_peer_failed(Status status) {
    if (m_to_peer->failed_side() == Pump::Side::sink) {
        peer_gone(m_to_peer->failed_errno(), std::move(status));
        return;
    }
    status.error().kind = kind_of_local(m_to_peer->source_fd());
    record(std::move(status));
    m_from_peer->abandon();
}

// The peer no longer takes data. `err` is how the kernel said so (a write's errno or
// SO_ERROR). ECONNRESET while the peer's data is still open is a reset that cut it short;
// the kernel reports EPIPE for a reset that follows the peer's FIN, and ECONNRESET can
// also come after the FIN was read (Unix sockets): both only end the sending.
void Relay::peer_gone(int err, Status status) {
    if (err == ECONNRESET) {
        if (!m_peer_ended) cut_short();
        return;
    }
    if (err == 0 || err == EPIPE) return;
    if (status) {
        status =
            fail_errno(kind_of_socket_errno(err), err,
                       fmt::format("connection to {}: {}", m_settings.peer_name, errno_text(err)));
    }
    record(std::move(status));
    m_from_peer->abandon();
}

Error reset_before_end_of_data(const std::string& peer_name, std::uint64_t bytes_received) {
    return Error{ErrorKind::network,
                 fmt::format("{}: connection reset by peer before the end of its data ({} bytes "
                             "received)",
                             peer_name, bytes_received),
                 ECONNRESET, 0};
}

void Relay::cut_short() {
    record(tl::unexpected(reset_before_end_of_data(m_settings.peer_name, m_from_peer->bytes_in())));
}

void Relay::record(Status status) {
    if (!status && m_result) m_result = std::move(status); // the first failure is the one
}

void Relay::after_from_peer() {
    if (m_output_ended || !m_from_peer->finished()) return;
    m_output_ended = true;
    const bool ended =
        m_from_peer->source_ended() && m_from_peer->failed_side() == Pump::Side::none;
    const int output = m_from_peer->sink_fd();
    // A forwarder's output is its second socket, which the input still reads.
    const bool output_read =
        m_to_peer && !m_to_peer->finished() && m_to_peer->source_fd() == output;
    if (output != m_settings.peer_fd && !output_read) unwatch(output);
    switch (m_settings.output_at_end) {
    case OutputAtEnd::release:
        release_output(output, m_settings.output_guard,
                       m_to_peer && !m_to_peer->finished() ? m_to_peer->source_fd() : -1);
        break;
    case OutputAtEnd::close:
        m_settings.owned_output.reset();
        break;
    case OutputAtEnd::keep:
    case OutputAtEnd::channel:
        break;
    }
    if (!ended) return;
    if (m_to_peer && m_to_peer->spliced() && m_to_peer->sink_fd() == m_settings.peer_fd &&
        reset_without_fin(m_settings.peer_fd, m_from_peer->bytes_in())) {
        if (!m_to_peer->finished()) m_to_peer->abandon();
        cut_short();
        return;
    }
    m_peer_ended = true;
    if (m_settings.peer_end_ends_relay && m_to_peer) m_to_peer->abandon();
}

void Relay::after_to_peer() {
    if (m_input_ended || !m_to_peer || !m_to_peer->finished()) return;
    m_input_ended = true;
    const int input = m_to_peer->source_fd();
    const bool input_written = !m_from_peer->finished() && m_from_peer->sink_fd() == input;
    if (input != m_settings.peer_fd && !input_written) unwatch(input);
    m_settings.owned_input.reset();
}

void Relay::update_interest() {
    std::vector<std::pair<int, std::uint32_t>> interest;
    const auto want = [&](int fd, std::uint32_t events) {
        if (fd < 0) return;
        for (auto& [f, e] : interest) {
            if (f == fd) {
                e |= events;
                return;
            }
        }
        interest.emplace_back(fd, events);
    };
    if (!m_from_peer->finished()) {
        want(m_from_peer->source_fd(), m_from_peer->wants_read() ? io::readable : 0);
        want(m_from_peer->sink_fd(), m_from_peer->wants_write() ? io::writable : 0);
        if (m_settings.output_may_leave) want(m_from_peer->sink_fd(), io::hangup);
    }
    if (m_to_peer && !m_to_peer->finished()) {
        want(m_to_peer->source_fd(), m_to_peer->wants_read() ? io::readable : 0);
        want(m_to_peer->sink_fd(), m_to_peer->wants_write() ? io::writable : 0);
        // Learn of a reset or close while only waiting for input (an idle terminal, a
        // silent child). Not for UDP, whose errors arrive with the next read.
        if (!m_settings.datagram) want(m_settings.peer_fd, io::hangup);
    }
    for (const int fd : std::vector<int>(m_watched)) {
        std::uint32_t events = 0;
        for (const auto& [f, e] : interest) {
            if (f == fd) events = e;
        }
        if (auto s = m_loop.set_events(fd, events); !s) {
            record(std::move(s));
            abort();
            return;
        }
    }
}

void Relay::abort() {
    if (m_done) return;
    m_from_peer->abandon();
    if (m_to_peer) m_to_peer->abandon();
    after_from_peer();
    after_to_peer();
    finish();
}

void Relay::finish() {
    m_done = true;
    for (const int fd : std::vector<int>(m_watched))
        unwatch(fd);
}

} // namespace nettool
