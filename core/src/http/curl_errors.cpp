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
// server"), else its generic text for the code. Shown to the user, never interpreted.
std::string detail(CURLcode code, const FailureContext& context) {
    std::string text =
        context.error_buffer.empty() ? curl_easy_strerror(code) : context.error_buffer;
    while (!text.empty() && (text.back() == '\n' || text.back() == '.'))
        text.pop_back();
    return text;
}

TransferError malformed(CURLcode code, const FailureContext& context) {
    return make(
        ErrorKind::protocol, FailureCause::protocol,
        fmt::format("{}: the server's reply is malformed: {}", context.url, detail(code, context)));
}

TransferError tls_failure(CURLcode code, const FailureContext& context) {
    return make(ErrorKind::tls, FailureCause::tls,
                fmt::format("{}: TLS failed: {}", context.url, detail(code, context)));
}

TransferError server_refused(CURLcode code, const FailureContext& context) {
    return make(ErrorKind::server, FailureCause::http_status,
                fmt::format("{}: the server refused: {}", context.url, detail(code, context)));
}

TransferError broken_connection(CURLcode code, const FailureContext& context) {
    return make(
        ErrorKind::network, FailureCause::reset,
        fmt::format("{}: the connection failed mid-way: {}", context.url, detail(code, context)));
}

TransferError unreachable(CURLcode code, const FailureContext& context) {
    return make(ErrorKind::network, FailureCause::connect,
                fmt::format("{}: {}", context.url, detail(code, context)));
}

// Codes that only a programming error or a libcurl built without a feature produce.
TransferError internal(CURLcode code, const FailureContext& context) {
    return make(ErrorKind::generic, FailureCause::other,
                fmt::format("{}: libcurl failed: {}", context.url, detail(code, context)));
}

// The sentence, kind and cause for each code; map_curl_error adds the code itself.
TransferError describe_curl_error(CURLcode code, const FailureContext& context) {
    const std::string& url = context.url;
    switch (code) {
    case CURLE_OK:
    case CURLE_FAILED_INIT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_HTTP_POST_ERROR:
    case CURLE_FUNCTION_NOT_FOUND:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_SETOPT_OPTION_SYNTAX:
    case CURLE_AGAIN:
    case CURLE_CHUNK_FAILED:
    case CURLE_RECURSIVE_API_CALL:
    case CURLE_UNRECOVERABLE_POLL:
    case CURLE_SSH:
    case CURLE_LDAP_CANNOT_BIND:
    case CURLE_LDAP_SEARCH_FAILED:
    case CURLE_OBSOLETE20:
    case CURLE_OBSOLETE24:
    case CURLE_OBSOLETE29:
    case CURLE_OBSOLETE32:
    case CURLE_OBSOLETE40:
    case CURLE_OBSOLETE44:
    case CURLE_OBSOLETE46:
    case CURLE_OBSOLETE50:
    case CURLE_OBSOLETE51:
    case CURLE_OBSOLETE57:
    case CURLE_OBSOLETE62:
    case CURLE_OBSOLETE75:
    case CURLE_OBSOLETE76:
    case CURL_LAST:
        return internal(code, context);

    case CURLE_URL_MALFORMAT:
        if (context.following_redirect) {
            return make(ErrorKind::protocol, FailureCause::redirect,
                        fmt::format("{}: the server redirected to '{}', which is not a valid URL",
                                    context.redirect_from.empty() ? url : context.redirect_from,
                                    context.redirect_location));
        }
        return make(ErrorKind::usage, FailureCause::usage,
                    fmt::format("bad URL '{}': {}", url, detail(code, context)));
    case CURLE_UNSUPPORTED_PROTOCOL:
        if (context.following_redirect) {
            return make(ErrorKind::protocol, FailureCause::redirect,
                        fmt::format("{}: refused to follow the redirect to '{}'; nettool follows "
                                    "redirects only to http and https URLs",
                                    context.redirect_from.empty() ? url : context.redirect_from,
                                    context.redirect_location));
        }
        if (context.scheme == "http" || context.scheme == "https") {
            // libcurl speaks every HTTP version it was asked for: the reply is not HTTP.
            return malformed(code, context);
        }
        return make(ErrorKind::usage, FailureCause::usage,
                    fmt::format("{}: the libcurl nettool runs with cannot fetch {} URLs", url,
                                context.scheme));
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
    case CURLE_FTP_ACCEPT_FAILED:
    case CURLE_FTP_CANT_GET_HOST:
    case CURLE_FTP_PORT_FAILED:
    case CURLE_INTERFACE_FAILED:
    case CURLE_NO_CONNECTION_AVAILABLE:
    case CURLE_QUIC_CONNECT_ERROR:
        return unreachable(code, context);
    case CURLE_PROXY:
        return make(ErrorKind::network, FailureCause::connect,
                    fmt::format("{}: the proxy failed: {}; check --proxy or the *_proxy variables",
                                url, detail(code, context)));
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_FTP_ACCEPT_TIMEOUT:
        return make(
            ErrorKind::network, FailureCause::timeout,
            fmt::format(
                "{}: timed out ({}); raise --timeout or --connect-timeout if the server is slow",
                url, detail(code, context)));
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_UPLOAD_FAILED:
        return broken_connection(code, context);
    case CURLE_RECV_ERROR:
        // A failed recv() leaves its errno (a reset, a broken pipe); without one, libcurl
        // refused what it received: bad chunked framing, a header block over its limit.
        if (context.os_errno != 0) return broken_connection(code, context);
        return malformed(code, context);
    case CURLE_PARTIAL_FILE:
        return make(ErrorKind::network, FailureCause::partial,
                    fmt::format("{}: the transfer ended early: {}", url, detail(code, context)));

    case CURLE_OUT_OF_MEMORY:
        // libcurl 7.88 answers a header line over 100 KB with this code; while the headers
        // arrive that is the server's doing (memory for a few buffers is not what runs out).
        if (context.in_headers) {
            return make(ErrorKind::protocol, FailureCause::protocol,
                        fmt::format("{}: the server's response header is larger than libcurl "
                                    "accepts (100 KB a line), or memory ran out",
                                    url));
        }
        return make(ErrorKind::generic, FailureCause::other, fmt::format("{}: out of memory", url));

    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_FTP_WEIRD_PASS_REPLY:
    case CURLE_FTP_WEIRD_PASV_REPLY:
    case CURLE_FTP_WEIRD_227_FORMAT:
    case CURLE_FTP_BAD_FILE_LIST:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_RANGE_ERROR:
    case CURLE_BAD_DOWNLOAD_RESUME:
    case CURLE_RTSP_CSEQ_ERROR:
    case CURLE_RTSP_SESSION_ERROR:
        return malformed(code, context);

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
        return tls_failure(code, context);

    case CURLE_LOGIN_DENIED:
    case CURLE_AUTH_ERROR:
        return make(ErrorKind::auth, FailureCause::auth,
                    fmt::format("{}: the login was refused; check the user name and password ({})",
                                url, detail(code, context)));

    case CURLE_HTTP_RETURNED_ERROR:
    case CURLE_REMOTE_ACCESS_DENIED:
    case CURLE_REMOTE_FILE_NOT_FOUND:
    case CURLE_REMOTE_DISK_FULL:
    case CURLE_REMOTE_FILE_EXISTS:
    case CURLE_FTP_COULDNT_RETR_FILE:
    case CURLE_FTP_COULDNT_SET_TYPE:
    case CURLE_FTP_COULDNT_USE_REST:
    case CURLE_FTP_PRET_FAILED:
    case CURLE_QUOTE_ERROR:
    case CURLE_TFTP_NOTFOUND:
    case CURLE_TFTP_PERM:
    case CURLE_TFTP_ILLEGAL:
    case CURLE_TFTP_UNKNOWNID:
    case CURLE_TFTP_NOSUCHUSER:
        return server_refused(code, context);

    case CURLE_FILE_COULDNT_READ_FILE:
        return make(ErrorKind::file_io, FailureCause::local_io,
                    fmt::format("{}: cannot read the file: {}", url, detail(code, context)));
    case CURLE_READ_ERROR:
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        return make(ErrorKind::file_io, FailureCause::local_io,
                    fmt::format("{}: a local file failed: {}", url, detail(code, context)));
    case CURLE_SEND_FAIL_REWIND:
        return make(ErrorKind::generic, FailureCause::other,
                    fmt::format("{}: the request body had to be sent again but cannot be re-read "
                                "(a pipe?): {}",
                                url, detail(code, context)));

    case CURLE_ABORTED_BY_CALLBACK:
        return make(ErrorKind::interrupted, FailureCause::interrupted,
                    fmt::format("{}: interrupted", url));
    }
    return internal(code, context); // a code newer than libcurl 7.88
}

} // namespace

TransferError map_curl_error(CURLcode code, const FailureContext& context) {
    TransferError failure = describe_curl_error(code, context);
    failure.error.curl_code = static_cast<int>(code);
    failure.error.sys_errno = context.os_errno;
    return failure;
}

} // namespace nettool::http
