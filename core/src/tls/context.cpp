// tls::Context through OpenSSL: the trust store, our certificate (loaded, or made for
// --tls-self-signed) and the callbacks that record why a handshake failed.
#include "tls/openssl_state.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool::tls {
namespace {

// Up to this many certificates a peer may send in its chain (OpenSSL's default is 100 KiB of
// them; a longer chain is refused by OpenSSL's max_cert_list).
constexpr int k_verify_depth = 10;

Session::State* state_of(SSL* ssl) {
    return static_cast<Session::State*>(SSL_get_app_data(ssl));
}

// Records the first failure with the certificate at hand; OpenSSL then fails the handshake.
int on_verify(int preverify_ok, X509_STORE_CTX* store) {
    if (preverify_ok == 1) return 1;
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    Session::State* state = ssl != nullptr ? state_of(ssl) : nullptr;
    if (state == nullptr || state->verify_failure.code != 0) return 0;
    VerifyFailure& f = state->verify_failure;
    f.code = X509_STORE_CTX_get_error(store);
    f.depth = X509_STORE_CTX_get_error_depth(store);
    if (X509* cert = X509_STORE_CTX_get_current_cert(store)) {
        f.subject = name_text(X509_get_subject_name(cert));
        f.issuer = name_text(X509_get_issuer_name(cert));
        f.not_before = date_text(X509_get0_notBefore(cert));
        f.not_after = date_text(X509_get0_notAfter(cert));
    }
    if (X509* leaf = X509_STORE_CTX_get0_cert(store)) f.names = subject_alt_names(leaf);
    return 0;
}

// Called only when the server asks for a certificate and we have none: noted for the sentence.
int on_certificate_requested(SSL* ssl, X509**, EVP_PKEY**) {
    if (Session::State* state = state_of(ssl)) state->cert_requested = true;
    return 0; // none: the handshake goes on without one
}

std::string openssl_reason() {
    const unsigned long code = ERR_peek_last_error();
    ERR_clear_error();
    const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
    return reason != nullptr ? lower_first(reason) : "unknown reason";
}

// A file named by an option: readable and a regular file, or exit 3 naming it.
Status check_file(const std::string& path, std::string_view option) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return fail_errno(ErrorKind::file_io, err,
                          fmt::format("cannot read {} '{}': {}", option, path, errno_text(err)));
    }
    struct stat st {};
    const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    ::close(fd);
    if (!regular) {
        return fail(ErrorKind::file_io,
                    fmt::format("{} '{}' is not a regular file; give a PEM file", option, path));
    }
    return {};
}

Status load_certificate_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                                std::string_view prefix) {
    const std::string cert_option = fmt::format("{}cert", prefix);
    const std::string key_option = fmt::format("{}key", prefix);
    if (auto s = check_file(cert, cert_option); !s) return s;
    if (auto s = check_file(key, key_option); !s) return s;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
        return fail(ErrorKind::file_io, fmt::format("{} '{}' holds no usable PEM certificate ({})",
                                                    cert_option, cert, openssl_reason()));
    }
    const std::string mismatch = fmt::format("the key in '{}' does not belong to the certificate "
                                             "in '{}'; give the key the certificate was made for",
                                             key, cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        // OpenSSL compares the key with the certificate as it loads it.
        const unsigned long code = ERR_peek_last_error();
        if (ERR_GET_LIB(code) == ERR_LIB_X509 &&
            (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH ||
             ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH)) {
            ERR_clear_error();
            return fail(ErrorKind::file_io, mismatch);
        }
        return fail(ErrorKind::file_io,
                    fmt::format("{} '{}' holds no usable PEM private key ({}); an encrypted "
                                "key must be decrypted first",
                                key_option, key, openssl_reason()));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        return fail(ErrorKind::file_io, mismatch);
    }
    return {};
}

Result<std::unique_ptr<SSL_CTX, SslCtxFree>> new_ctx(bool client) {
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx(
        SSL_CTX_new(client ? TLS_client_method() : TLS_server_method()));
    if (!ctx) return fail(ErrorKind::generic, "OpenSSL cannot make a TLS context (out of memory?)");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    // Writes report each record sent (the bridge keeps the rest), and an idle connection
    // gives its buffers back.
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify_depth(ctx.get(), k_verify_depth);
    return ctx;
}

std::string fingerprint_of(X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &length) != 1) return {};
    std::string text;
    for (unsigned int i = 0; i < length; ++i)
        text += fmt::format("{}{:02X}", i == 0 ? "" : ":", md[i]);
    return text;
}

// --tls-self-signed: a P-256 key and a certificate for the loopback names, valid for a year
// from an hour ago (clocks differ). Made fresh at every start; nothing is written to disk.
Status make_self_signed(SSL_CTX* ctx) {
    std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
    std::unique_ptr<X509, X509Free> cert(X509_new());
    if (!key || !cert) {
        return fail(ErrorKind::generic,
                    fmt::format("cannot make a self-signed certificate: {}", openssl_reason()));
    }
    X509* x = cert.get();
    X509_set_version(x, 2);
    BIGNUM* serial = BN_new();
    bool ok = serial != nullptr && BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
              BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != nullptr;
    BN_free(serial);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nullptr &&
         X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) != nullptr &&
         X509_set_pubkey(x, key.get()) == 1;
    X509_NAME* name = X509_get_subject_name(x);
    ok = ok &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>("nettool self-signed"),
                                    -1, -1, 0) == 1 &&
         X509_set_issuer_name(x, name) == 1;
    std::string alt = "DNS:localhost,IP:127.0.0.1,IP:::1";
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' &&
        std::string_view(host).find_first_of(",:= ") == std::string_view::npos)
        alt += fmt::format(",DNS:{}", host);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, alt.c_str()},
                                     std::pair{NID_ext_key_usage, "serverAuth"}}) {
        X509_EXTENSION* ext = ok ? X509V3_EXT_conf_nid(nullptr, &v3, nid, value) : nullptr;
        ok = ext != nullptr && X509_add_ext(x, ext, -1) == 1;
        X509_EXTENSION_free(ext);
    }
    ok = ok && X509_sign(x, key.get(), EVP_sha256()) > 0;
    ok = ok && SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key.get()) == 1;
    if (!ok) {
        return fail(ErrorKind::generic,
                    fmt::format("cannot make a self-signed certificate: {}", openssl_reason()));
    }
    return {};
}

} // namespace

Context::Context(std::unique_ptr<State> state) : m_state(std::move(state)) {}
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;
Context::~Context() = default;

Result<Context> Context::client(const ClientSettings& settings) {
    auto ctx = new_ctx(true);
    if (!ctx) return tl::unexpected(ctx.error());
    auto state = std::make_unique<State>();
    state->client = true;
    state->client_settings = settings;
    state->verify_peer = !settings.insecure;
    if (settings.ca_file) {
        const std::string option = settings.option_prefix + "cafile";
        if (auto s = check_file(*settings.ca_file, option); !s) return tl::unexpected(s.error());
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(ctx->get(), settings.ca_file->c_str(), nullptr) != 1) {
            return fail(ErrorKind::file_io,
                        fmt::format("{} '{}' holds no usable PEM certificate ({})", option,
                                    *settings.ca_file, openssl_reason()));
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx->get()) != 1) {
        ERR_clear_error(); // no system store: verification fails with "unknown CA", and says so
    }
    if (settings.cert_file && settings.key_file) {
        auto loaded = load_certificate_and_key(ctx->get(), *settings.cert_file, *settings.key_file,
                                               settings.option_prefix);
        if (!loaded) return tl::unexpected(loaded.error());
        state->has_client_cert = true;
        state->fingerprint = fingerprint_of(SSL_CTX_get0_certificate(ctx->get()));
    } else {
        SSL_CTX_set_client_cert_cb(ctx->get(), on_certificate_requested);
    }
    SSL_CTX_set_verify(ctx->get(), state->verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       state->verify_peer ? on_verify : nullptr);
    state->ctx = std::move(*ctx);
    return Context(std::move(state));
}

Result<Context> Context::server(const ServerSettings& settings) {
    auto ctx = new_ctx(false);
    if (!ctx) return tl::unexpected(ctx.error());
    auto state = std::make_unique<State>();
    state->client = false;
    if (settings.self_signed) {
        if (auto s = make_self_signed(ctx->get()); !s) return tl::unexpected(s.error());
    } else if (settings.cert_file && settings.key_file) {
        auto loaded =
            load_certificate_and_key(ctx->get(), *settings.cert_file, *settings.key_file, "--");
        if (!loaded) return tl::unexpected(loaded.error());
    } else {
        return fail(ErrorKind::usage, "serve --tls needs --cert FILE --key FILE, or "
                                      "--tls-self-signed");
    }
    state->fingerprint = fingerprint_of(SSL_CTX_get0_certificate(ctx->get()));
    // Resumed sessions must keep their client's verified identity.
    static const unsigned char k_id[] = "nettool";
    SSL_CTX_set_session_id_context(ctx->get(), k_id, sizeof k_id - 1);
    if (settings.client_ca) {
        const std::string& path = *settings.client_ca;
        if (auto s = check_file(path, "--client-ca"); !s) return tl::unexpected(s.error());
        ERR_clear_error();
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(path.c_str());
        if (names == nullptr ||
            SSL_CTX_load_verify_locations(ctx->get(), path.c_str(), nullptr) != 1) {
            if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
            return fail(ErrorKind::file_io,
                        fmt::format("--client-ca '{}' holds no usable PEM certificate ({})", path,
                                    openssl_reason()));
        }
        SSL_CTX_set_client_CA_list(ctx->get(), names);
        SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           on_verify);
        state->verify_peer = true;
    }
    state->ctx = std::move(*ctx);
    return Context(std::move(state));
}

std::string Context::fingerprint() const {
    return m_state->fingerprint;
}

Result<Session> Context::session(int fd, const std::string& peer_name) const {
    ERR_clear_error();
    auto state = std::make_unique<Session::State>();
    state->ssl.reset(SSL_new(m_state->ctx.get()));
    if (!state->ssl || SSL_set_fd(state->ssl.get(), fd) != 1) {
        return fail(ErrorKind::generic,
                    fmt::format("cannot start TLS with {}: {}", peer_name, openssl_reason()));
    }
    SSL* ssl = state->ssl.get();
    SSL_set_app_data(ssl, state.get()); // the callbacks' way back to the state (a stable address)
    state->client = m_state->client;
    state->peer_name = peer_name;
    state->verify_peer = m_state->verify_peer;
    state->has_client_cert = m_state->has_client_cert;
    if (m_state->client) {
        const ClientSettings& c = m_state->client_settings;
        state->checked_name = c.server_name.value_or(c.host);
        state->option_prefix = c.option_prefix;
        const std::string& name = state->checked_name;
        const bool is_ip = [&] {
            ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
            ASN1_OCTET_STRING_free(ip);
            return ip != nullptr;
        }();
        bool ok = true;
        // SNI carries names only (RFC 6066: never a literal address).
        if (!is_ip) ok = SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
        if (state->verify_peer) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = ok && (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                              : SSL_set1_host(ssl, name.c_str()) == 1);
        }
        if (!ok) {
            return fail(ErrorKind::usage,
                        fmt::format("'{}' cannot be checked against a certificate ({})", name,
                                    openssl_reason()));
        }
        SSL_set_connect_state(ssl);
    } else {
        SSL_set_accept_state(ssl);
    }
    watch_socket_reads(*state);
    Session session(std::move(state));
    return session;
}

} // namespace nettool::tls
