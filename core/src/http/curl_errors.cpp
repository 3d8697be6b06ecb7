#include "curl_errors.hpp"

#include <fmt/format.h>

namespace nettool::http {
namespace {

TransferError make(ErrorKind kind, FailureCause cause, std::string message) {
    TransferError failure;
    failure.error = Error{kind, std::move(message)};
    failure.cause = cause;
    return failure;
}

// libcurl's own detail ("Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to
// server"), else its generic text for the code.
std::string detail(CURLcode code, const FailureContext& context) {
    std::string text =
        context.error_buffer.empty() ? curl_easy_strerror(code) : context.error_buffer;
    while (!text.empty() && (text.back() == '\n' || text.back() == '.'))
        text.pop_back();
    return text;
}

// The sentence, kind and cause for each code; map_curl_error adds the code itself.
TransferError describe_curl_error(CURLcode code, const FailureContext& context) {
    const std::string& url = context.url;
    switch (code) {
    case CURLE_URL_MALFORMAT:
        return make(ErrorKind::usage, FailureCause::usage,
                    fmt::format("bad URL '{}': {}", url, detail(code, context)));
    case CURLE_UNSUPPORTED_PROTOCOL:
        if (context.refused_redirect) {
            return make(ErrorKind::protocol, FailureCause::redirect,
                        fmt::format("{}: refused to follow the redirect to '{}'; nettool follows "
                                    "redirects only to http and https URLs",
                                    context.refused_redirect_from.empty()
                                        ? url
                                        : context.refused_redirect_from,
                                    *context.refused_redirect));
        }
        return make(ErrorKind::protocol, FailureCause::protocol,
                    fmt::format("{}: {}", url, detail(code, context)));
    case CURLE_TOO_MANY_REDIRECTS:
        return make(ErrorKind::protocol, FailureCause::redirect,
                    fmt::format("{}: more than {} redirects (a redirect loop?); raise --max-redirs "
                                "if the chain is legitimate",
                                url, context.max_redirects));
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return make(ErrorKind::network, FailureCause::resolve,
                    fmt::format("{}: {}; check the host name and your DNS settings", url,
                                detail(code, context)));
    case CURLE_COULDNT_CONNECT: {
        std::string why =
            context.os_errno != 0 ? errno_text(context.os_errno) : detail(code, context);
        return make(
            ErrorKind::network, FailureCause::connect,
            fmt::format("connect to {}: {}; is the server running and reachable?", url, why));
    }
    case CURLE_OPERATION_TIMEDOUT: {
        return make(
            ErrorKind::network, FailureCause::timeout,
            fmt::format(
                "{}: timed out ({}); raise --timeout or --connect-timeout if the server is slow",
                url, detail(code, context)));
    }
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return make(
            ErrorKind::network, FailureCause::reset,
            fmt::format("{}: the connection failed mid-way: {}", url, detail(code, context)));
    case CURLE_PARTIAL_FILE:
        return make(ErrorKind::network, FailureCause::partial,
                    fmt::format("{}: the transfer ended early: {}", url, detail(code, context)));
    case CURLE_PEER_FAILED_VERIFICATION:
        return make(
            ErrorKind::tls, FailureCause::tls,
            fmt::format("{}: the server's certificate was not verified: {}; pass its CA with "
                        "--cacert FILE (or, knowing the risk, --insecure)",
                        url, detail(code, context)));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return make(ErrorKind::tls, FailureCause::tls,
                    fmt::format("{}: TLS failed: {}", url, detail(code, context)));
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_RANGE_ERROR:
    case CURLE_HTTP3:
    case CURLE_FTP_WEIRD_PASV_REPLY:
    case CURLE_FTP_WEIRD_227_FORMAT:
        return make(
            ErrorKind::protocol, FailureCause::protocol,
            fmt::format("{}: the server's reply is malformed: {}", url, detail(code, context)));
    case CURLE_LOGIN_DENIED:
        return make(
            ErrorKind::auth, FailureCause::auth,
            fmt::format("{}: the login was refused; check the user name and password", url));
    case CURLE_REMOTE_ACCESS_DENIED:
    case CURLE_REMOTE_FILE_NOT_FOUND:
    case CURLE_FTP_COULDNT_RETR_FILE:
    case CURLE_FTP_COULDNT_SET_TYPE:
    case CURLE_FTP_ACCEPT_FAILED:
    case CURLE_FTP_CANT_GET_HOST:
    case CURLE_FTP_PORT_FAILED:
    case CURLE_FTP_COULDNT_USE_REST:
    case CURLE_QUOTE_ERROR:
        return make(ErrorKind::server, FailureCause::http_status,
                    fmt::format("{}: the server refused: {}", url, detail(code, context)));
    case CURLE_FILE_COULDNT_READ_FILE:
        return make(ErrorKind::file_io, FailureCause::local_io,
                    fmt::format("{}: cannot read the file: {}", url, detail(code, context)));
    case CURLE_READ_ERROR:
    case CURLE_WRITE_ERROR:
        return make(ErrorKind::file_io, FailureCause::local_io,
                    fmt::format("{}: a local file failed: {}", url, detail(code, context)));
    case CURLE_PROXY:
        return make(ErrorKind::network, FailureCause::connect,
                    fmt::format("{}: the proxy failed: {}; check --proxy or the *_proxy variables",
                                url, detail(code, context)));
    case CURLE_ABORTED_BY_CALLBACK:
        return make(ErrorKind::interrupted, FailureCause::interrupted,
                    fmt::format("{}: interrupted", url));
    default:
        return make(ErrorKind::generic, FailureCause::other,
                    fmt::format("{}: {}", url, detail(code, context)));
    }
}

} // namespace

TransferError map_curl_error(CURLcode code, const FailureContext& context) {
    TransferError failure = describe_curl_error(code, context);
    failure.error.curl_code = static_cast<int>(code);
    failure.error.sys_errno = context.os_errno;
    return failure;
}

} // namespace nettool::http
