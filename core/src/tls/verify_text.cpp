// The sentences for failed verifications and the alerts a peer sends: one per cause, naming
// the peer and what to do, built from OpenSSL's codes (never from its text).
#include "tls/openssl_state.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/x509v3.h>

namespace nettool::tls {

std::string name_text(const X509_NAME* name) {
    if (name == nullptr) return {};
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) return {};
    // RFC 2253 without the multi-byte escapes: one line of ASCII ("CN=x,O=y").
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    std::string text(data, length > 0 ? static_cast<std::size_t>(length) : 0);
    BIO_free(bio);
    return text;
}

std::string date_text(const ASN1_TIME* time) {
    tm when{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &when) != 1) return "an unknown date";
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02} UTC", when.tm_year + 1900, when.tm_mon + 1,
                       when.tm_mday, when.tm_hour, when.tm_min);
}

std::string subject_alt_names(X509* cert) {
    auto* names =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names == nullptr) return {};
    std::string text;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
        std::string one;
        if (name->type == GEN_DNS) {
            const ASN1_IA5STRING* dns = name->d.dNSName;
            one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                       static_cast<std::size_t>(ASN1_STRING_length(dns)));
        } else if (name->type == GEN_IPADD) {
            const ASN1_OCTET_STRING* ip = name->d.iPAddress;
            const unsigned char* b = ASN1_STRING_get0_data(ip);
            if (ASN1_STRING_length(ip) == 4) {
                one = fmt::format("IP:{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
            } else if (char text6[INET6_ADDRSTRLEN];
                       ASN1_STRING_length(ip) == 16 &&
                       ::inet_ntop(AF_INET6, b, text6, sizeof text6) != nullptr) {
                one = std::string("IP:") + text6;
            }
        }
        if (one.empty()) continue;
        // Only printable ASCII reaches a message: a certificate is the peer's text.
        for (char& c : one) {
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
                c = '?';
        }
        if (!text.empty()) text += ", ";
        text += one;
    }
    GENERAL_NAMES_free(names);
    return text;
}

Error verify_error(const Session::State& state, long result) {
    const VerifyFailure& f = state.verify_failure;
    const int code = f.code != 0 ? f.code : static_cast<int>(result);
    const std::string& who = state.peer_name;
    // A server checks a client's certificate against --client-ca; a client checks a server's.
    const std::string& opt = state.option_prefix; // "--" or serve's "--to-"
    const std::string insecure =
        state.client ? fmt::format(" (or skip verification with {}insecure)", opt) : "";
    const std::string trust = state.client
                                  ? fmt::format("give the CA's certificate with {}cafile FILE", opt)
                                  : "check --client-ca";
    std::string text;
    switch (code) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        text = fmt::format("the certificate of {} expired on {} (subject {}); it must be "
                           "renewed{}",
                           who, f.not_after, f.subject, insecure);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        text = fmt::format("the certificate of {} is not valid before {} (subject {}); check "
                           "this machine's clock{}",
                           who, f.not_before, f.subject, insecure);
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        text = fmt::format("the certificate of {} is not for '{}' (it names {}); connect by one "
                           "of its names, or give the name to expect with {}servername NAME{}",
                           who, state.checked_name, f.names.empty() ? f.subject : f.names, opt,
                           insecure);
        break;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        text = fmt::format("{} presented a self-signed certificate (subject {}), which nothing "
                           "vouches for; to trust it, give that certificate with {}{}",
                           who, f.subject,
                           state.client ? opt + "cafile FILE" : std::string("--client-ca FILE"),
                           insecure);
        break;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        text = fmt::format("the certificate of {} was issued by an unknown certificate authority "
                           "({}); {}{}",
                           who, f.issuer.empty() ? "not in the trusted set" : f.issuer, trust,
                           insecure);
        break;
    case X509_V_ERR_CERT_REVOKED:
        text = fmt::format("the certificate of {} has been revoked", who);
        break;
    case X509_V_ERR_INVALID_PURPOSE:
        text = fmt::format("the certificate of {} is not for a TLS {}", who,
                           state.client ? "server" : "client");
        break;
    default:
        text = fmt::format("the certificate of {} failed verification: {}{}", who,
                           X509_verify_cert_error_string(code), insecure);
        break;
    }
    return Error{ErrorKind::tls, std::move(text)};
}

Error alert_error(const Session::State& state) {
    const int alert = state.alert_received;
    const std::string& who = state.peer_name;
    const std::string desc = lower_first(SSL_alert_desc_string_long(alert));
    std::string text;
    if (state.client && (alert == SSL_AD_CERTIFICATE_REQUIRED ||
                         (state.cert_requested && !state.has_client_cert))) {
        text = fmt::format("{} requires a client certificate (it sent the TLS alert '{}'); give "
                           "one with {}cert FILE {}key FILE",
                           who, desc, state.option_prefix, state.option_prefix);
    } else if (state.client && state.has_client_cert &&
               (alert == SSL_AD_UNKNOWN_CA || alert == SSL_AD_BAD_CERTIFICATE ||
                alert == SSL_AD_CERTIFICATE_UNKNOWN || alert == SSL_AD_CERTIFICATE_EXPIRED ||
                alert == SSL_AD_ACCESS_DENIED)) {
        text = fmt::format("{} refused our client certificate (the TLS alert '{}')", who, desc);
    } else if (alert == SSL_AD_PROTOCOL_VERSION || alert == SSL_AD_HANDSHAKE_FAILURE ||
               alert == SSL_AD_INSUFFICIENT_SECURITY) {
        text = fmt::format("{} ended the TLS handshake with the alert '{}': it shares no TLS "
                           "version or cipher with nettool (TLS 1.2 or 1.3)",
                           who, desc);
    } else if (alert == SSL_AD_UNRECOGNIZED_NAME) {
        text = fmt::format("{} does not serve the requested name (the TLS alert '{}'); give the "
                           "name it serves with {}servername NAME",
                           who, desc, state.option_prefix);
    } else {
        text = fmt::format("{} ended the TLS connection with the alert '{}'", who, desc);
    }
    return Error{ErrorKind::tls, std::move(text)};
}

} // namespace nettool::tls
