#pragma once
// The interface between the nettool binary and its HTTP module, nettool-http.so: the module
// holds everything that needs libcurl or OpenSSL (the transfer engine, URL parsing with CURLU,
// digests with EVP, TLS for connect and serve, their version strings), so that neither library
// is mapped before main() and `serve`/`connect` map them only for --tls or a proxy
// (ARCHITECTURE.md, "Start-up").
//
// Both sides come from one build: the loader compares the module's key (a hash of this file,
// the headers of the types below, the version, the compiler and the build options) with its
// own before it calls anything, so every type crossing here has the same layout on both sides.
//
// The rules that make two copies of libstdc++ in one process safe (the binary and the module
// each link it statically by default, the module's copy hidden):
// - Only plain data crosses: nettool's own structs, std::string, std::vector, std::optional,
//   tl::expected of them, by value or const reference; opaque handles; function pointers.
//   No polymorphic object: its vtable and type_info would be the other side's (UBSan's vptr
//   check and dynamic_cast would not know them). The binary's TransferSink crosses as SinkCalls.
// - No exception crosses: every function here is noexcept and catches on its own side. The
//   one callable inside the data, TransferOptions::trace (a std::function: plain function
//   pointers inside, no vtable), is wrapped by the binary so that it cannot throw either.
// - Memory: both copies of operator new/delete are thin wrappers of the one malloc/free, so a
//   string made on one side may be freed on the other. The sanitizer build links libstdc++
//   dynamically on both sides, so ASan sees one operator new.
// - No libstdc++ state is shared: the module uses no iostreams, locale or terminate handler.
// - Process-wide state of nettool's own lives in the binary only: the module's stop.hpp
//   functions forward to the binary's (HostCalls), so there is one stop request.
// - The module is never unloaded (its code may sit behind a handle until exit).
#include <cstddef>
#include <cstdint>
#include <nettool/error.hpp>
#include <nettool/http/transfer.hpp>
#include <nettool/http/url.hpp>
#include <nettool/tls.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace nettool::module {

// The binary's stop request (nettool/stop.hpp), handed to the module when it is opened.
struct HostCalls {
    void (*init_stop)();
    void (*request_stop)(int signal_number) noexcept;
    int (*stop_signal)() noexcept;
    int (*stop_fd)() noexcept;
    void (*reset_stop_for_tests)();
};

// A TransferSink as plain calls on `context` (the binary's sink, guarded there).
struct SinkCalls {
    void* context = nullptr;
    Status (*on_response)(void* context, const http::ResponseHead& head) noexcept = nullptr;
    Status (*on_body)(void* context, const char* data, std::size_t size) noexcept = nullptr;
    void (*on_intermediate)(void* context, const http::ResponseHead& head) noexcept = nullptr;
    void (*on_progress)(void* context, std::uint64_t done,
                        std::optional<std::uint64_t> total) noexcept = nullptr;
};

// Opaque to the binary; defined in module_entry.cpp.
struct Share;
struct Engine;
struct Multi;
struct DigestState;
struct TlsContext;
struct TlsSession;

// What the module offers: the factories behind nettool/http/*.hpp and nettool/digest.hpp.
// A null handle from a *_new function means out of memory.
struct HttpModule {
    Result<http::Url> (*parse_url)(std::string_view text) noexcept;
    Status (*check_proxy_url)(std::string_view text) noexcept;
    std::string (*path_of_url)(std::string_view url) noexcept;
    Result<std::string> (*library_versions)() noexcept;

    Share* (*share_new)() noexcept;
    void (*share_free)(Share* share) noexcept;
    Engine* (*engine_new)(Share* share_or_null) noexcept;
    void (*engine_free)(Engine* engine) noexcept;
    http::TransferResult (*perform)(Engine* engine, const http::Request& request,
                                    const SinkCalls& sink) noexcept;
    // The multi engine: `request` and the sink behind `sink` stay alive (on the binary's
    // side) until multi_run reports `id` done; a transfer that cannot start is reported so.
    Multi* (*multi_new)(const http::MultiOptions& options) noexcept;
    void (*multi_free)(Multi* multi) noexcept;
    void (*multi_start)(Multi* multi, std::uint64_t id, const http::Request& request,
                        const SinkCalls& sink) noexcept;
    std::vector<http::MultiDone> (*multi_run)(Multi* multi, std::int64_t wait_ms) noexcept;
    void (*multi_wake)(Multi* multi) noexcept; // thread-safe
    // connect --proxy: the tunnel's socket (a descriptor) crosses inside http::Tunnel.
    http::TunnelResult (*open_tunnel)(Engine* engine, const http::TunnelRequest& request) noexcept;

    Result<DigestState*> (*digest_new)(std::string_view algorithm) noexcept;
    void (*digest_free)(DigestState* digest) noexcept;
    void (*digest_update)(DigestState* digest, const char* data, std::size_t size) noexcept;
    void (*digest_reset)(DigestState* digest) noexcept;
    std::string (*digest_hex)(const DigestState* digest) noexcept;

    // TLS for connect and serve (nettool/tls.hpp); the socket crosses as a descriptor, not
    // owned by the session.
    Result<TlsContext*> (*tls_client_new)(const tls::ClientSettings& settings) noexcept;
    Result<TlsContext*> (*tls_server_new)(const tls::ServerSettings& settings) noexcept;
    void (*tls_context_free)(TlsContext* context) noexcept;
    std::string (*tls_fingerprint)(const TlsContext* context) noexcept;
    Result<TlsSession*> (*tls_session_new)(const TlsContext* context, int fd,
                                           const std::string& peer_name) noexcept;
    void (*tls_session_free)(TlsSession* session) noexcept;
    tls::IoResult (*tls_handshake)(TlsSession* session) noexcept;
    tls::IoResult (*tls_read)(TlsSession* session, char* data, std::size_t size) noexcept;
    tls::IoResult (*tls_write)(TlsSession* session, const char* data, std::size_t size) noexcept;
    tls::IoResult (*tls_shutdown)(TlsSession* session) noexcept;
    tls::PeerInfo (*tls_peer)(const TlsSession* session) noexcept;
};

} // namespace nettool::module

// The module's only exported symbols. The loader reads the key first and opens the module only
// when it is its own; open() keeps `host` (which must outlive the process) and returns the
// module's functions, or null when it cannot start (libcurl's global initialisation failed).
extern "C" {
extern const char nettool_http_module_key[];
const nettool::module::HttpModule*
nettool_http_module_open(const nettool::module::HostCalls* host) noexcept;
}
