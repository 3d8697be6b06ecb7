#pragma once
// TLS for connect --tls and serve --tls, through OpenSSL. OpenSSL lives in the HTTP module
// (nettool-http.so, which links it already): the binary reaches these classes through the
// module, loaded by the first Context made, so a plain connect or serve never maps libssl.
// (The unit tests link the OpenSSL code itself.) Only plain data crosses (http_module.hpp):
// the settings and results below.
//
// A Session speaks TLS on a non-blocking TCP socket it does not own; every call does what it
// can without blocking and says what it waits for. The event-loop side (handshake, the bridge
// to a plaintext socket, half-close by close_notify) is core/src/tls_bridge.hpp.
#include <cstddef>
#include <memory>
#include <nettool/error.hpp>
#include <optional>
#include <span>
#include <string>

namespace nettool::tls {

struct ClientSettings {
    // The host as written (a name, or an IP address): the certificate must be for it (DNS or
    // IP subject alternative names, OpenSSL's own checks), and a name is sent as SNI.
    std::string host;
    // --servername: sent as SNI and checked in place of `host`.
    std::optional<std::string> server_name;
    std::optional<std::string> ca_file;   // trusted instead of the system's CAs
    bool insecure = false;                // no verification at all
    std::optional<std::string> cert_file; // a client certificate (with key_file)
    std::optional<std::string> key_file;
    // How the options above are spelled on the command line, for sentences that name them:
    // "--" (connect: --cafile, --insecure) or "--to-" (serve --to-tls: --to-cafile).
    std::string option_prefix = "--";
};

struct ServerSettings {
    std::optional<std::string> cert_file; // PEM: the certificate, then its chain
    std::optional<std::string> key_file;
    bool self_signed = false; // an ephemeral key and certificate, made now
    // Mutual TLS: clients must present a certificate issued by one of these CAs.
    std::optional<std::string> client_ca;
};

enum class IoStatus {
    ok,         // done: `bytes` moved (read/write), or the step finished (handshake, shutdown)
    want_read,  // call again once the socket is readable
    want_write, // call again once the socket is writable
    closed,     // read: the peer's close_notify (its data ended cleanly)
    failed,     // `error` says why; `error.sys_errno` is ECONNRESET/EPIPE for a reset
};

struct IoResult {
    IoStatus status = IoStatus::ok;
    std::size_t bytes = 0;
    // failed: the TCP connection ended without close_notify (a truncation), not a reset.
    bool truncated = false;
    Error error;
};

// What the handshake established.
struct PeerInfo {
    std::string protocol; // "TLSv1.3"
    std::string cipher;   // "TLS_AES_256_GCM_SHA384"
    std::string subject;  // the peer's verified certificate's subject (RFC 2253), or ""
    std::string issuer;   // its issuer, or ""
};

class Session;

// An SSL_CTX: the configuration, the trust store, our certificate. Shared by every session
// (and every worker thread) made from it.
class Context {
  public:
    // Loads the CA file and the client certificate now: a missing or unreadable file is
    // ErrorKind::file_io naming it, a key that does not match its certificate is usage.
    static Result<Context> client(const ClientSettings& settings);
    // Loads (or makes, self_signed) the certificate and key now, before anything listens.
    static Result<Context> server(const ServerSettings& settings);
    Context(Context&&) noexcept;
    Context& operator=(Context&&) noexcept;
    ~Context();

    // The SHA-256 fingerprint of our certificate ("AB:CD:..."), "" for a client without one.
    std::string fingerprint() const;
    // A session on the connected socket `fd` (not owned). `peer_name` is the peer as messages
    // name it ("127.0.0.1:50312"; for a client, the host is named from the settings).
    Result<Session> session(int fd, const std::string& peer_name) const;

    struct State;

  private:
    explicit Context(std::unique_ptr<State> state);
    std::unique_ptr<State> m_state;
};

class Session {
  public:
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    ~Session();

    // Failures are ErrorKind::tls with a sentence naming the peer and what to do (expired,
    // wrong name, self-signed, unknown CA, an alert from the peer), or network for a reset
    // or the connection's end during the handshake.
    IoResult handshake();
    IoResult read(std::span<char> buffer);
    // Writes some of `data` (`bytes` says how much; at least one record's worth).
    IoResult write(std::span<const char> data);
    // Sends close_notify (our data ends); reading may go on.
    IoResult shutdown();
    PeerInfo peer() const;

    struct State;
    explicit Session(std::unique_ptr<State> state);

  private:
    std::unique_ptr<State> m_state;
};

} // namespace nettool::tls
