#include "util/check.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/pump.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

constexpr std::size_t k_default_buffer = 64 * 1024;

// The buffer every pump of this thread reads into (see pump.hpp): it holds bytes only within
// one step(), never across, so pumps on one thread can share it.
char* shared_buffer(std::size_t size) {
    thread_local std::unique_ptr<char[]> buffer;
    thread_local std::size_t capacity = 0;
    if (capacity < size) {
        buffer = std::make_unique_for_overwrite<char[]>(size);
        capacity = size;
    }
    return buffer.get();
}

} // namespace

Pump::Pump(int source_fd, int sink_fd, Options options)
    : m_source(source_fd), m_sink(sink_fd), m_options(std::move(options)) {
    NETTOOL_CHECK(m_source >= 0 && m_sink >= 0);
    if (m_options.buffer_size == 0) m_options.buffer_size = k_default_buffer;
    if (m_options.limit && *m_options.limit == 0) {
        m_source_ended = true;
        finish_if_drained();
    }
}

bool Pump::wants_read() const {
    return !m_finished && !m_source_ended && m_begin == m_end && m_transformed.empty();
}

bool Pump::wants_write() const {
    return !m_finished && (m_begin < m_end || !m_transformed.empty());
}

void Pump::stop_reading() {
    m_source_ended = true;
    finish_if_drained();
}

void Pump::abandon() {
    m_finished = true;
    m_begin = m_end = 0;
    release_buffers();
}

void Pump::release_buffers() {
    m_own.reset();
    m_data = nullptr;
    std::string().swap(m_transformed);
}

Status Pump::step() {
    Status status = run();
    keep_pending();
    return status;
}

Status Pump::run() {
    // Alternate until neither side makes progress: write what is pending, then read more.
    for (int rounds = 0; rounds < m_options.rounds_per_step && !m_finished; ++rounds) {
        const auto before_in = m_bytes_in;
        const auto before_out = m_bytes_out;
        if (wants_write()) {
            if (auto s = write_some(); !s) {
                abandon();
                return s;
            }
        }
        if (wants_read()) {
            if (auto s = read_some(); !s) {
                abandon();
                return s;
            }
        }
        finish_if_drained();
        if (before_in == m_bytes_in && before_out == m_bytes_out) break;
    }
    return {};
}

// Bytes the sink did not take are still in the thread's buffer: they move into the pump's own
// before another pump reads over them.
void Pump::keep_pending() {
    if (m_begin == m_end || m_data == m_own.get()) return;
    if (!m_own) m_own = std::make_unique_for_overwrite<char[]>(m_options.buffer_size);
    std::copy(m_data + m_begin, m_data + m_end, m_own.get());
    m_end -= m_begin;
    m_begin = 0;
    m_data = m_own.get();
}

Status Pump::read_some() {
    std::size_t room = m_options.buffer_size;
    if (m_options.limit)
        room =
            static_cast<std::size_t>(std::min<std::uint64_t>(room, *m_options.limit - m_bytes_in));
    // While data flows the pump's own buffer (if it has one) is read into directly: no copy.
    char* const into = m_own ? m_own.get() : shared_buffer(m_options.buffer_size);
    ssize_t n;
    do {
        n = ::read(m_source, into, room);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            release_buffers(); // nothing pending (we only read then) and nothing coming: idle
            return {};
        }
        const int err = errno;
        // A reset is not an end of stream: whether it cut the data short is the caller's
        // call (the relay's reset rule), made from failed_errno(), never from the message.
        m_failed_side = Side::source;
        m_failed_errno = err;
        return fail_errno(kind_of_socket_errno(err), err,
                          fmt::format("read from {}: {}", m_options.source_name, errno_text(err)));
    }
    if (n == 0) {
        m_source_ended = true;
        release_buffers();
        return {};
    }
    const auto got = static_cast<std::size_t>(n);
    m_bytes_in += got;
    const std::span<const char> chunk(into, got);
    if (m_options.observe) m_options.observe(chunk);
    if (m_options.transform) {
        m_options.transform(chunk, m_transformed);
    } else {
        m_data = into;
        m_begin = 0;
        m_end = got;
    }
    if (m_options.limit && m_bytes_in >= *m_options.limit) m_source_ended = true;
    return {};
}

Status Pump::write_some() {
    const char* data = m_transformed.empty() ? m_data + m_begin : m_transformed.data();
    const std::size_t size = m_transformed.empty() ? m_end - m_begin : m_transformed.size();
    ssize_t n;
    do {
        // send() with MSG_NOSIGNAL would be needed if SIGPIPE were not ignored; cmd/ ignores it
        // process-wide, and write() also serves pipes and files.
        n = ::write(m_sink, data, size);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
        const int err = errno;
        m_failed_side = Side::sink;
        m_failed_errno = err;
        return fail_errno(
            err == EPIPE || err == ECONNRESET ? ErrorKind::network : kind_of_socket_errno(err), err,
            fmt::format("write to {}: {}", m_options.sink_name, errno_text(err)));
    }
    const auto put = static_cast<std::size_t>(n);
    m_bytes_out += put;
    if (m_transformed.empty())
        m_begin += put;
    else
        m_transformed.erase(0, put);
    if (m_begin == m_end) m_begin = m_end = 0;
    return {};
}

void Pump::end_sink(int& sink_fd, Options::AtEnd at_end) {
    switch (at_end) {
    case Options::AtEnd::half_close_socket:
        util::half_close_socket(sink_fd);
        break;
    case Options::AtEnd::close_sink:
        ::close(sink_fd);
        sink_fd = -1;
        break;
    case Options::AtEnd::nothing:
        break;
    }
}

void Pump::finish_if_drained() {
    if (m_finished || !m_source_ended || m_begin != m_end || !m_transformed.empty()) return;
    m_finished = true;
    release_buffers();
    end_sink(m_sink, m_options.at_end);
}

} // namespace nettool
