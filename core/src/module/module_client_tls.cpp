// In the binary: nettool/tls.hpp served by the HTTP module, which the first Context loads
// (so that connect and serve map libssl only when --tls is given). The unit tests link
// core/src/tls/ itself instead of this file.
#include "module_loader.hpp"

#include <nettool/tls.hpp>

namespace nettool::tls {

struct Context::State {
    const module::HttpModule& calls;
    module::TlsContext* handle;
    State(const module::HttpModule& c, module::TlsContext* h) : calls(c), handle(h) {}
    ~State() { calls.tls_context_free(handle); }
    State(const State&) = delete;
    State& operator=(const State&) = delete;
};

struct Session::State {
    const module::HttpModule& calls;
    module::TlsSession* handle;
    State(const module::HttpModule& c, module::TlsSession* h) : calls(c), handle(h) {}
    ~State() { calls.tls_session_free(handle); }
    State(const State&) = delete;
    State& operator=(const State&) = delete;
};

Context::Context(std::unique_ptr<State> state) : m_state(std::move(state)) {}
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;
Context::~Context() = default;

Result<Context> Context::client(const ClientSettings& settings) {
    const auto& loaded = module::http_module();
    if (!loaded) return tl::unexpected(loaded.error());
    auto handle = loaded->calls->tls_client_new(settings);
    if (!handle) return tl::unexpected(std::move(handle.error()));
    return Context(std::make_unique<State>(*loaded->calls, *handle));
}

Result<Context> Context::server(const ServerSettings& settings) {
    const auto& loaded = module::http_module();
    if (!loaded) return tl::unexpected(loaded.error());
    auto handle = loaded->calls->tls_server_new(settings);
    if (!handle) return tl::unexpected(std::move(handle.error()));
    return Context(std::make_unique<State>(*loaded->calls, *handle));
}

std::string Context::fingerprint() const {
    return m_state->calls.tls_fingerprint(m_state->handle);
}

Result<Session> Context::session(int fd, const std::string& peer_name) const {
    auto handle = m_state->calls.tls_session_new(m_state->handle, fd, peer_name);
    if (!handle) return tl::unexpected(std::move(handle.error()));
    return Session(std::make_unique<Session::State>(m_state->calls, *handle));
}

Session::Session(std::unique_ptr<State> state) : m_state(std::move(state)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

IoResult Session::handshake() {
    return m_state->calls.tls_handshake(m_state->handle);
}

IoResult Session::read(std::span<char> buffer) {
    return m_state->calls.tls_read(m_state->handle, buffer.data(), buffer.size());
}

IoResult Session::write(std::span<const char> data) {
    return m_state->calls.tls_write(m_state->handle, data.data(), data.size());
}

IoResult Session::shutdown() {
    return m_state->calls.tls_shutdown(m_state->handle);
}

PeerInfo Session::peer() const {
    return m_state->calls.tls_peer(m_state->handle);
}

} // namespace nettool::tls
