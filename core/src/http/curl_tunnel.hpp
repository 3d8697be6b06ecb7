#pragma once
// connect --proxy: a connect-only libcurl transfer (CURLOPT_CONNECT_ONLY) that stops once the
// proxy's handshake is done; its socket is then the caller's, for the relay (or TLS) to use.
#include <curl/curl.h>
#include <nettool/http/transfer.hpp>
#include <string>
#include <string_view>

namespace nettool::http {

TunnelResult open_curl_tunnel(const TunnelRequest& request);

// The failure for a tunnel whose transfer ended with `code`, from the facts libcurl reports
// (CURLINFO_PROXY_ERROR for SOCKS, the CONNECT response's status for HTTP), never its text.
struct TunnelFacts {
    std::string proxy;       // the proxy URL without its password
    std::string target;      // "localhost:80"
    std::string detail;      // libcurl's error buffer (shown, never interpreted)
    long proxy_error = 0;    // CURLINFO_PROXY_ERROR (CURLproxycode)
    long connect_code = 0;   // CURLINFO_HTTP_CONNECTCODE: the CONNECT response's status
    std::string status_line; // that response's first line, as received
    int os_errno = 0;        // CURLINFO_OS_ERRNO
    long reply_bytes = 0;    // CURLINFO_HEADER_SIZE: complete reply lines from an HTTP proxy
    bool credentials_offered = false;
    std::string timeout_text; // "2s" when the set-up had a limit
};
TunnelFailure describe_tunnel_failure(CURLcode code, const TunnelFacts& facts);

} // namespace nettool::http
