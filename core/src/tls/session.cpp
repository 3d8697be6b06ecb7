// tls::Session through OpenSSL: non-blocking handshake, reads, writes and close_notify on a
// socket, each failure told apart by OpenSSL's codes and the errno (never by text).
#include "tls/openssl_state.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

namespace nettool::tls {
namespace {

enum class Step { handshake, read, write, shutdown };

bool is_alert_reason(int reason) {
    return reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256;
}

// "Its first bytes are not TLS": what OpenSSL says when a record header makes no sense.
bool is_not_tls_reason(int reason) {
    return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
           reason == SSL_R_HTTPS_PROXY_REQUEST || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
           reason == SSL_R_UNKNOWN_PROTOCOL || reason == SSL_R_UNSUPPORTED_PROTOCOL ||
           reason == SSL_R_RECORD_LENGTH_MISMATCH || reason == SSL_R_UNEXPECTED_MESSAGE ||
           reason == SSL_R_UNEXPECTED_RECORD || reason == SSL_R_LENGTH_MISMATCH;
}

// A reset's error is reported once, to whichever call comes first: OpenSSL writing its session
// tickets at the end of a handshake takes it and carries on, and the next read sees a plain end
// of stream. The kernel's state tells them apart at the moment the read sees that end (before
// OpenSSL answers it with an alert, to which the peer may react): a FIN leaves the connection
// open for our data (CLOSE_WAIT), a reset has closed it (TCP_CLOSE). Only while we have not
// sent our close_notify and FIN, after which the peer's FIN can close it too.
long on_socket_read(BIO* bio, int oper, const char*, std::size_t, int, long, int ret,
                    std::size_t* processed) {
    if (oper != (BIO_CB_READ | BIO_CB_RETURN) || ret > 0 || (processed && *processed > 0))
        return ret;
    auto* state = reinterpret_cast<Session::State*>(BIO_get_callback_arg(bio));
    if (state == nullptr || (SSL_get_shutdown(state->ssl.get()) & SSL_SENT_SHUTDOWN) != 0)
        return ret;
    constexpr std::uint8_t k_tcp_close = 7; // TCP_CLOSE (the kernel's tcp_states.h)
    tcp_info info{};
    socklen_t length = sizeof info;
    const int fd = static_cast<int>(BIO_get_fd(bio, nullptr));
    if (errno == 0 && ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) == 0 &&
        info.tcpi_state == k_tcp_close)
        state->eof_was_reset = true;
    return ret;
}

IoResult failed(Error error, bool truncated = false) {
    IoResult r;
    r.status = IoStatus::failed;
    r.truncated = truncated;
    r.error = std::move(error);
    return r;
}

// The server asked for a certificate, we had none, and then it ended the handshake: that is
// why, whatever it sent (an alert, a reset, a close).
std::optional<Error> missing_client_certificate(const Session::State& s) {
    if (!s.client || !s.cert_requested || s.has_client_cert) return std::nullopt;
    return Error{ErrorKind::tls, fmt::format("{} requires a client certificate and ended the TLS "
                                             "handshake; give one with {}cert FILE {}key FILE",
                                             s.peer_name, s.option_prefix, s.option_prefix)};
}

// The connection's end without close_notify, or a reset: during the handshake a network
// failure; afterwards the caller decides (a reset after the peer's end of data only ends the
// sending, see tls_bridge.hpp).
IoResult connection_ended(const Session::State& s, Step step, int err) {
    if (step == Step::handshake || !s.handshake_done) {
        if (auto why = missing_client_certificate(s)) return failed(std::move(*why), err == 0);
        const std::string what = err == 0 ? "closed the connection" : "reset the connection";
        const std::string hint =
            s.client ? "; is it a TLS port?" : " (a client that does not speak TLS, or gave up)";
        Error e{ErrorKind::network,
                fmt::format("{} {} during the TLS handshake{}", s.peer_name, what, hint), err, 0};
        return failed(std::move(e), err == 0);
    }
    if (err == 0 && s.eof_was_reset) err = ECONNRESET; // see on_socket_read
    if (err == 0) {
        return failed(Error{ErrorKind::network,
                            fmt::format("{} closed the TCP connection without a TLS close_notify: "
                                        "its data may have been cut short",
                                        s.peer_name)},
                      true);
    }
    return failed(Error{kind_of_socket_errno(err),
                        fmt::format("connection to {}: {}", s.peer_name, errno_text(err)), err, 0});
}

IoResult protocol_failure(Session::State& s, Step step) {
    const unsigned long code = ERR_peek_error();
    const int reason = ERR_GET_REASON(code);
    const char* text = ERR_reason_error_string(code);
    ERR_clear_error();
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) return connection_ended(s, step, 0);
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED || s.verify_failure.code != 0)
        return failed(verify_error(s, SSL_get_verify_result(s.ssl.get())));
    if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        return failed(Error{ErrorKind::tls, fmt::format("{} presented no client certificate, and "
                                                        "--client-ca requires one",
                                                        s.peer_name)});
    }
    if (is_alert_reason(reason)) {
        s.alert_received = reason - SSL_AD_REASON_OFFSET;
        if (auto why = missing_client_certificate(s)) return failed(std::move(*why));
        return failed(alert_error(s));
    }
    if (!s.handshake_done && is_not_tls_reason(reason)) {
        return failed(
            Error{ErrorKind::tls, fmt::format("{} does not speak TLS (what it sent is not a TLS "
                                              "handshake){}",
                                              s.peer_name,
                                              s.client ? fmt::format("; is it a plain-text port? "
                                                                     "(drop {}tls)",
                                                                     s.option_prefix)
                                                       : "; a plain-text client?")});
    }
    if (reason == SSL_R_EXCESSIVE_MESSAGE_SIZE) {
        return failed(Error{ErrorKind::tls,
                            fmt::format("{} sent a TLS handshake message over the size limit (a "
                                        "certificate chain over 100 KiB?); refused",
                                        s.peer_name)});
    }
    const std::string reason_text = text != nullptr ? lower_first(text) : "unknown reason";
    return failed(
        Error{ErrorKind::tls,
              s.handshake_done
                  ? fmt::format("TLS connection to {} failed: {}", s.peer_name, reason_text)
                  : fmt::format("TLS handshake with {} failed: {}", s.peer_name, reason_text)});
}

// One OpenSSL call's outcome, read at once (errno and the error queue are this thread's).
IoResult outcome(Session::State& s, Step step, int ret, int err) {
    switch (SSL_get_error(s.ssl.get(), ret)) {
    case SSL_ERROR_NONE: {
        IoResult r;
        if (step == Step::read || step == Step::write) r.bytes = static_cast<std::size_t>(ret);
        return r;
    }
    case SSL_ERROR_WANT_READ:
        return IoResult{IoStatus::want_read, 0, false, {}};
    case SSL_ERROR_WANT_WRITE:
        return IoResult{IoStatus::want_write, 0, false, {}};
    case SSL_ERROR_ZERO_RETURN:
        return IoResult{IoStatus::closed, 0, false, {}};
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return connection_ended(s, step, err);
    default:
        return protocol_failure(s, step);
    }
}

template <class Call> IoResult call(Session::State& s, Step step, Call&& ssl_call) {
    ERR_clear_error();
    errno = 0;
    const int ret = ssl_call(s.ssl.get());
    const int err = errno;
    return outcome(s, step, ret, err);
}

int clamp_size(std::size_t size) {
    return static_cast<int>(std::min<std::size_t>(size, 1 << 30));
}

} // namespace

void watch_socket_reads(Session::State& state) {
    BIO* bio = SSL_get_rbio(state.ssl.get());
    BIO_set_callback_arg(bio, reinterpret_cast<char*>(&state));
    BIO_set_callback_ex(bio, on_socket_read);
}

Session::Session(std::unique_ptr<State> state) : m_state(std::move(state)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

IoResult Session::handshake() {
    IoResult r = call(*m_state, Step::handshake, [](SSL* ssl) { return SSL_do_handshake(ssl); });
    if (r.status == IoStatus::ok) m_state->handshake_done = true;
    return r;
}

IoResult Session::read(std::span<char> buffer) {
    return call(*m_state, Step::read,
                [&](SSL* ssl) { return SSL_read(ssl, buffer.data(), clamp_size(buffer.size())); });
}

IoResult Session::write(std::span<const char> data) {
    return call(*m_state, Step::write,
                [&](SSL* ssl) { return SSL_write(ssl, data.data(), clamp_size(data.size())); });
}

IoResult Session::shutdown() {
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_shutdown(m_state->ssl.get());
    const int err = errno;
    // 0: our close_notify went out and the peer's has not come yet, which is the half-close.
    if (ret >= 0) return {};
    return outcome(*m_state, Step::shutdown, ret, err);
}

PeerInfo Session::peer() const {
    PeerInfo info;
    SSL* ssl = m_state->ssl.get();
    info.protocol = SSL_get_version(ssl);
    if (const char* cipher = SSL_get_cipher_name(ssl)) info.cipher = cipher;
    if (X509* cert = SSL_get0_peer_certificate(ssl);
        cert != nullptr && m_state->verify_peer && SSL_get_verify_result(ssl) == X509_V_OK) {
        info.subject = name_text(X509_get_subject_name(cert));
        info.issuer = name_text(X509_get_issuer_name(cert));
    }
    return info;
}

} // namespace nettool::tls
