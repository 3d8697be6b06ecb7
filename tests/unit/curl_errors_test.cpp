// The one map from libcurl's codes to exit codes and retry causes, checked for every code of
// libcurl 7.88 (0 .. CURL_LAST), and the codes whose meaning depends on the transfer's facts.
#include "http/curl_errors.hpp"

#include <cerrno>
#include <gtest/gtest.h>
#include <map>

using nettool::ErrorKind;
using nettool::http::FailureCause;
using nettool::http::FailureContext;
using nettool::http::map_curl_error;

namespace {

FailureContext context_for(std::string scheme = "http") {
    FailureContext context;
    context.url = scheme + "://example.test/x";
    context.scheme = std::move(scheme);
    return context;
}

// What each code means when nothing else is known (no errno, no redirect, body phase).
const std::map<int, ErrorKind>& expected_kinds() {
    static const std::map<int, ErrorKind> kinds = [] {
        std::map<int, ErrorKind> k;
        for (int code = 0; code <= CURL_LAST; ++code)
            k[code] = ErrorKind::generic; // programming errors, unused protocols, obsolete
        for (int code :
             {CURLE_UNSUPPORTED_PROTOCOL, CURLE_TOO_MANY_REDIRECTS, CURLE_WEIRD_SERVER_REPLY,
              CURLE_FTP_WEIRD_PASS_REPLY, CURLE_FTP_WEIRD_PASV_REPLY, CURLE_FTP_WEIRD_227_FORMAT,
              CURLE_HTTP2, CURLE_RANGE_ERROR, CURLE_BAD_DOWNLOAD_RESUME, CURLE_RECV_ERROR,
              CURLE_BAD_CONTENT_ENCODING, CURLE_RTSP_CSEQ_ERROR, CURLE_RTSP_SESSION_ERROR,
              CURLE_FTP_BAD_FILE_LIST, CURLE_HTTP2_STREAM, CURLE_HTTP3})
            k[code] = ErrorKind::protocol;
        for (int code : {CURLE_URL_MALFORMAT})
            k[code] = ErrorKind::usage;
        for (int code :
             {CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
              CURLE_FTP_ACCEPT_FAILED, CURLE_FTP_ACCEPT_TIMEOUT, CURLE_FTP_CANT_GET_HOST,
              CURLE_PARTIAL_FILE, CURLE_UPLOAD_FAILED, CURLE_OPERATION_TIMEDOUT,
              CURLE_FTP_PORT_FAILED, CURLE_INTERFACE_FAILED, CURLE_GOT_NOTHING, CURLE_SEND_ERROR,
              CURLE_NO_CONNECTION_AVAILABLE, CURLE_QUIC_CONNECT_ERROR, CURLE_PROXY})
            k[code] = ErrorKind::network;
        for (int code :
             {CURLE_SSL_CONNECT_ERROR, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
              CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_PEER_FAILED_VERIFICATION,
              CURLE_USE_SSL_FAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CACERT_BADFILE,
              CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
              CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT})
            k[code] = ErrorKind::tls;
        for (int code : {CURLE_LOGIN_DENIED, CURLE_AUTH_ERROR})
            k[code] = ErrorKind::auth;
        for (int code :
             {CURLE_REMOTE_ACCESS_DENIED, CURLE_FTP_COULDNT_SET_TYPE, CURLE_FTP_COULDNT_RETR_FILE,
              CURLE_QUOTE_ERROR, CURLE_HTTP_RETURNED_ERROR, CURLE_FTP_COULDNT_USE_REST,
              CURLE_TFTP_NOTFOUND, CURLE_TFTP_PERM, CURLE_REMOTE_DISK_FULL, CURLE_TFTP_ILLEGAL,
              CURLE_TFTP_UNKNOWNID, CURLE_REMOTE_FILE_EXISTS, CURLE_TFTP_NOSUCHUSER,
              CURLE_REMOTE_FILE_NOT_FOUND, CURLE_FTP_PRET_FAILED})
            k[code] = ErrorKind::server;
        for (int code : {CURLE_WRITE_ERROR, CURLE_READ_ERROR, CURLE_FILE_COULDNT_READ_FILE,
                         CURLE_FILESIZE_EXCEEDED})
            k[code] = ErrorKind::file_io;
        k[CURLE_ABORTED_BY_CALLBACK] = ErrorKind::interrupted;
        return k;
    }();
    return kinds;
}

} // namespace

TEST(CurlErrors, EveryCodeOfLibcurl788HasItsDeliberateKind) {
    ASSERT_EQ(static_cast<int>(CURL_LAST), 100); // the table below is libcurl 7.88's
    for (int code = 0; code <= CURL_LAST; ++code) {
        const auto failure = map_curl_error(static_cast<CURLcode>(code), context_for());
        EXPECT_EQ(failure.error.kind, expected_kinds().at(code))
            << "CURLcode " << code << ": " << failure.error.message;
        EXPECT_EQ(failure.error.curl_code, code);
        EXPECT_NE(failure.error.message.find("example.test"), std::string::npos)
            << "CURLcode " << code << ": " << failure.error.message;
    }
}

TEST(CurlErrors, TheTransfersFactsDecideNotLibcurlsText) {
    // A header line over libcurl's limit arrives as "out of memory" while headers arrive.
    auto context = context_for();
    context.error_buffer = "Out of memory"; // whatever it says, it is not read
    context.in_headers = true;
    auto failure = map_curl_error(CURLE_OUT_OF_MEMORY, context);
    EXPECT_EQ(failure.error.kind, ErrorKind::protocol);
    EXPECT_EQ(failure.cause, FailureCause::protocol);
    context.in_headers = false;
    EXPECT_EQ(map_curl_error(CURLE_OUT_OF_MEMORY, context).error.kind, ErrorKind::generic);

    // A failed recv() with an errno is the network; without one, libcurl refused the bytes.
    context = context_for();
    context.os_errno = ECONNRESET;
    failure = map_curl_error(CURLE_RECV_ERROR, context);
    EXPECT_EQ(failure.error.kind, ErrorKind::network);
    EXPECT_EQ(failure.cause, FailureCause::reset);
    EXPECT_EQ(failure.error.sys_errno, ECONNRESET);
    context.os_errno = 0;
    failure = map_curl_error(CURLE_RECV_ERROR, context);
    EXPECT_EQ(failure.error.kind, ErrorKind::protocol);
    EXPECT_EQ(failure.cause, FailureCause::protocol);

    // A bad URL while following a redirect is the server's.
    context = context_for();
    context.following_redirect = true;
    context.redirect_location = "http://[::1";
    context.redirect_from = "http://example.test/from";
    failure = map_curl_error(CURLE_URL_MALFORMAT, context);
    EXPECT_EQ(failure.error.kind, ErrorKind::protocol);
    EXPECT_EQ(failure.cause, FailureCause::redirect);
    EXPECT_EQ(failure.error.message,
              "http://example.test/from: the server redirected to 'http://[::1', which is not a "
              "valid URL");
    failure = map_curl_error(CURLE_UNSUPPORTED_PROTOCOL, context);
    EXPECT_EQ(failure.error.kind, ErrorKind::protocol);
    EXPECT_NE(failure.error.message.find("only to http and https"), std::string::npos);

    // A scheme this libcurl lacks, asked for by the user, is a usage error.
    failure = map_curl_error(CURLE_UNSUPPORTED_PROTOCOL, context_for("ftps"));
    EXPECT_EQ(failure.error.kind, ErrorKind::usage);
}
