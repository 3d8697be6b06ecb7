// One connection served alone on an event loop of its own (--model thread|fork), and the
// record a forked child sends back when it is over.
#include "serve_model.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <type_traits>

namespace nettool::serve_detail {

Finished serve_alone(ServeContext& context, UniqueFd socket, ConnectionInfo info, int abort_fd) {
    Finished out;
    // Without --accept-proxy the server announced the connection before handing it over.
    out.announced = !context.options.accept_proxy;
    out.info = info;
    auto loop = EventLoop::create();
    if (!loop) {
        Error error = loop.error();
        error.message =
            fmt::format("cannot serve the connection from {}: {}", peer_name(info), error.message);
        out.outcome = tl::unexpected(std::move(error));
        return out;
    }
    Status failure;
    {
        Connection c(context, *loop, std::move(socket), std::move(info), [] {});
        if (auto s = c.start(); !s) {
            failure = std::move(s);
            c.abort();
        }
        bool watching_abort = false;
        if (abort_fd >= 0 && !c.done()) {
            // Level-triggered and readable for good once fired: unwatched at the first call.
            auto watched = loop->add(abort_fd, io::readable, [&](std::uint32_t) {
                loop->remove(abort_fd);
                watching_abort = false;
                c.abort();
            });
            if (!watched) {
                failure = std::move(watched);
                c.abort();
            }
            watching_abort = watched.has_value();
        }
        while (!c.done()) {
            std::optional<std::chrono::milliseconds> timeout;
            if (const auto when = c.deadline()) {
                timeout =
                    std::max(std::chrono::ceil<std::chrono::milliseconds>(*when - Clock::now()),
                             std::chrono::milliseconds(0));
            }
            if (auto s = loop->run_once(timeout); !s) {
                if (failure) failure = std::move(s);
                c.abort();
                break;
            }
            const auto now = Clock::now();
            if (const auto when = c.deadline(); when && *when <= now) c.on_deadline(now);
        }
        if (watching_abort) loop->remove(abort_fd);
        out.announced = c.announced();
        out.info = c.info();
        out.outcome = failure ? c.outcome() : failure;
        out.child = c.take_child();
    } // the connection's sockets close here, before its program's group is ended
    return out;
}

std::optional<std::size_t> connection_cap(const ServeOptions& options) {
    switch (options.model) {
    case ServeModel::event:
        return options.max_conns;
    case ServeModel::thread:
        return options.max_conns.value_or(k_default_thread_cap);
    case ServeModel::fork:
        return options.max_conns.value_or(k_default_fork_cap);
    }
    return options.max_conns;
}

namespace {

constexpr std::uint32_t k_record_magic = 0x4e54464e; // "NTFN"
// A message longer than this is cut: the whole record must fit in the pipe, whose capacity
// can be one page (a user over pipe-user-pages-soft), since the parent reads it only once the
// child has exited.
constexpr std::size_t k_message_max = 3072;
constexpr std::size_t k_where_max = 256; // a Unix socket's name (at most 108 bytes)

template <class T> void put(std::string& out, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

void put_bytes(std::string& out, std::string_view bytes) {
    put(out, static_cast<std::uint32_t>(bytes.size()));
    out.append(bytes);
}

void put_address(std::string& out, const SocketAddress& address) {
    put_bytes(out,
              std::string_view(reinterpret_cast<const char*>(address.get()), address.length()));
}

class Reader {
  public:
    explicit Reader(std::string_view data) : m_data(data) {}
    template <class T> bool get(T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        if (m_data.size() < sizeof value) return false;
        std::memcpy(&value, m_data.data(), sizeof value);
        m_data.remove_prefix(sizeof value);
        return true;
    }
    bool get_bytes(std::string& bytes, std::size_t max) {
        std::uint32_t size = 0;
        if (!get(size) || size > max || m_data.size() < size) return false;
        bytes.assign(m_data.substr(0, size));
        m_data.remove_prefix(size);
        return true;
    }
    bool get_address(SocketAddress& address) {
        std::string bytes;
        if (!get_bytes(bytes, sizeof(sockaddr_storage))) return false;
        address = bytes.empty() ? SocketAddress()
                                : SocketAddress(reinterpret_cast<const sockaddr*>(bytes.data()),
                                                static_cast<socklen_t>(bytes.size()));
        return true;
    }
    bool at_end() const { return m_data.empty(); }

  private:
    std::string_view m_data;
};

bool known_kind(std::int32_t kind) {
    switch (static_cast<ErrorKind>(kind)) {
    case ErrorKind::generic:
    case ErrorKind::usage:
    case ErrorKind::file_io:
    case ErrorKind::network:
    case ErrorKind::tls:
    case ErrorKind::auth:
    case ErrorKind::protocol:
    case ErrorKind::server:
    case ErrorKind::checksum:
    case ErrorKind::interrupted:
        return true;
    }
    return false;
}

} // namespace

static_assert(4 + 2 + 4 * 4 + 3 * 8 + 2 * (4 + sizeof(sockaddr_storage)) + 4 + k_where_max + 4 +
                      k_message_max <=
                  4096,
              "a record must fit in a one-page pipe");

std::string encode_finished(const Finished& f) {
    std::string out;
    put(out, k_record_magic);
    put(out, static_cast<std::uint8_t>(f.announced));
    put(out, static_cast<std::uint8_t>(!f.outcome));
    const Error error = f.outcome ? Error{} : f.outcome.error();
    put(out, static_cast<std::int32_t>(error.kind));
    put(out, static_cast<std::int32_t>(error.sys_errno));
    put(out, static_cast<std::int32_t>(f.info.transport));
    put(out, static_cast<std::int32_t>(f.info.peer_pid));
    put(out, f.info.bytes_in);
    put(out, f.info.bytes_out);
    put(out, f.info.seconds);
    put_address(out, f.info.peer);
    put_address(out, f.info.target);
    put_bytes(out, std::string_view(f.info.where).substr(0, k_where_max));
    put_bytes(out, std::string_view(error.message).substr(0, k_message_max));
    return out;
}

std::optional<Finished> decode_finished(std::string_view record) {
    Reader in(record);
    std::uint32_t magic = 0;
    std::uint8_t announced = 0;
    std::uint8_t failed = 0;
    std::int32_t kind = 0;
    std::int32_t sys_errno = 0;
    std::int32_t transport = 0;
    std::int32_t peer_pid = 0;
    Finished f;
    std::string message;
    if (!in.get(magic) || magic != k_record_magic || !in.get(announced) || !in.get(failed) ||
        !in.get(kind) || !in.get(sys_errno) || !in.get(transport) || !in.get(peer_pid) ||
        !in.get(f.info.bytes_in) || !in.get(f.info.bytes_out) || !in.get(f.info.seconds) ||
        !in.get_address(f.info.peer) || !in.get_address(f.info.target) ||
        !in.get_bytes(f.info.where, k_where_max) || !in.get_bytes(message, k_message_max) ||
        !in.at_end()) {
        return std::nullopt;
    }
    if (announced > 1 || failed > 1 || transport < 0 || transport > 2) return std::nullopt;
    if (failed && !known_kind(kind)) return std::nullopt;
    f.announced = announced == 1;
    f.info.transport = static_cast<Transport>(transport);
    f.info.peer_pid = peer_pid;
    if (failed) {
        f.outcome =
            tl::unexpected(Error{static_cast<ErrorKind>(kind), std::move(message), sys_errno, 0});
    }
    return f;
}

} // namespace nettool::serve_detail
