#pragma once
// Inside the HTTP module (and the unit tests): what a tls::Context and a tls::Session hold,
// shared by context.cpp, session.cpp and verify_text.cpp. The only files besides
// core/src/http/ that include OpenSSL's headers.
#include <memory>
#include <nettool/tls.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string>

namespace nettool::tls {

struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

struct Context::State {
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
    bool client = true;
    ClientSettings client_settings; // client: the host to check, SNI
    bool has_client_cert = false;
    bool verify_peer = false; // client: not --insecure; server: --client-ca
    std::string fingerprint;  // our certificate's, "AB:CD:..."
};

// The first verification failure, as the verify callback saw it (the certificate in hand).
struct VerifyFailure {
    int code = 0; // X509_V_ERR_*
    int depth = 0;
    std::string subject;
    std::string issuer;
    std::string not_before; // "2020-01-02"
    std::string not_after;
    std::string names; // the leaf's subject alternative names, "DNS:a, IP:1.2.3.4"
};

struct Session::State {
    std::unique_ptr<SSL, SslFree> ssl;
    bool client = true;
    std::string peer_name;            // "localhost:443", "127.0.0.1:50312"
    std::string checked_name;         // client: the name or address the certificate must be for
    std::string option_prefix = "--"; // client: how its options are spelled (ClientSettings)
    bool verify_peer = false;
    bool has_client_cert = false;
    bool handshake_done = false;
    int alert_received = -1;     // the description of the last alert the peer sent
    bool cert_requested = false; // the server asked for a certificate and we have none
    bool eof_was_reset = false;  // the socket's end of stream came from a reset (session.cpp)
    VerifyFailure verify_failure;
};

// Tells a reset whose error OpenSSL took from a FIN (session.cpp).
void watch_socket_reads(Session::State& state);

// Sentences (verify_text.cpp).
Error verify_error(const Session::State& state, long result);
Error alert_error(const Session::State& state);
std::string name_text(const X509_NAME* name);
std::string date_text(const ASN1_TIME* time);
std::string subject_alt_names(X509* cert);

} // namespace nettool::tls
