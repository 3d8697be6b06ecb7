// Inside the HTTP module: the TLS entries (module_entry_tls.hpp). OpenSSL's TLS code does not
// throw; what could is allocation, caught here so that nothing crosses the boundary.
#include "module_entry_tls.hpp"

#include <new>

namespace nettool::module {

struct TlsContext {
    tls::Context context;
};
struct TlsSession {
    tls::Session session;
};

namespace {

Error out_of_memory() noexcept {
    return Error{ErrorKind::generic, "out of memory"};
}

tls::IoResult failed_io() noexcept {
    tls::IoResult r;
    r.status = tls::IoStatus::failed;
    r.error.kind = ErrorKind::generic;
    try {
        r.error.message = "out of memory in the TLS module";
    } catch (...) {
    }
    return r;
}

template <class Make> Result<TlsContext*> new_context(Make&& make) noexcept {
    try {
        auto context = make();
        if (!context) return tl::unexpected(std::move(context.error()));
        return new TlsContext{std::move(*context)};
    } catch (...) {
        return tl::unexpected(out_of_memory());
    }
}

template <class Io> tls::IoResult guarded(Io&& io) noexcept {
    try {
        return io();
    } catch (...) {
        return failed_io();
    }
}

} // namespace

Result<TlsContext*> tls_client_new(const tls::ClientSettings& settings) noexcept {
    return new_context([&] { return tls::Context::client(settings); });
}

Result<TlsContext*> tls_server_new(const tls::ServerSettings& settings) noexcept {
    return new_context([&] { return tls::Context::server(settings); });
}

void tls_context_free(TlsContext* context) noexcept {
    delete context;
}

std::string tls_fingerprint(const TlsContext* context) noexcept {
    try {
        return context->context.fingerprint();
    } catch (...) {
        return {};
    }
}

Result<TlsSession*> tls_session_new(const TlsContext* context, int fd,
                                    const std::string& peer_name) noexcept {
    try {
        auto session = context->context.session(fd, peer_name);
        if (!session) return tl::unexpected(std::move(session.error()));
        return new TlsSession{std::move(*session)};
    } catch (...) {
        return tl::unexpected(out_of_memory());
    }
}

void tls_session_free(TlsSession* session) noexcept {
    delete session;
}

tls::IoResult tls_handshake(TlsSession* session) noexcept {
    return guarded([&] { return session->session.handshake(); });
}

tls::IoResult tls_read(TlsSession* session, char* data, std::size_t size) noexcept {
    return guarded([&] { return session->session.read({data, size}); });
}

tls::IoResult tls_write(TlsSession* session, const char* data, std::size_t size) noexcept {
    return guarded([&] { return session->session.write({data, size}); });
}

tls::IoResult tls_shutdown(TlsSession* session) noexcept {
    return guarded([&] { return session->session.shutdown(); });
}

tls::PeerInfo tls_peer(const TlsSession* session) noexcept {
    try {
        return session->session.peer();
    } catch (...) {
        return {};
    }
}

} // namespace nettool::module
