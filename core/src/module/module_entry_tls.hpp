#pragma once
// Inside the HTTP module: the TLS entries of its table (module_entry.cpp lists them), each a
// noexcept wrapper of core/src/tls/ that catches whatever that code throws.
#include "http_module.hpp"

namespace nettool::module {

Result<TlsContext*> tls_client_new(const tls::ClientSettings& settings) noexcept;
Result<TlsContext*> tls_server_new(const tls::ServerSettings& settings) noexcept;
void tls_context_free(TlsContext* context) noexcept;
std::string tls_fingerprint(const TlsContext* context) noexcept;
Result<TlsSession*> tls_session_new(const TlsContext* context, int fd,
                                    const std::string& peer_name) noexcept;
void tls_session_free(TlsSession* session) noexcept;
tls::IoResult tls_handshake(TlsSession* session) noexcept;
tls::IoResult tls_read(TlsSession* session, char* data, std::size_t size) noexcept;
tls::IoResult tls_write(TlsSession* session, const char* data, std::size_t size) noexcept;
tls::IoResult tls_shutdown(TlsSession* session) noexcept;
tls::PeerInfo tls_peer(const TlsSession* session) noexcept;

} // namespace nettool::module
