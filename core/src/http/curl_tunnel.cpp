// connect --proxy through libcurl: SOCKS5 (the proxy resolves the name, username/password
// authentication) and HTTP CONNECT (basic authentication) are libcurl's, as are the proxy's
// detailed errors. A connect-only transfer ends once the tunnel is up; the socket is then
// duplicated and the handle cleaned up, which closes only libcurl's copy: the connection is
// the caller's, a plain TCP socket (so the relay can splice it, and TLS can be layered on it).
#include "curl_tunnel.hpp"

#include "curl_handles.hpp"
#include "duration_text.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/endpoint.hpp>
#include <nettool/http/url.hpp>
#include <nettool/stop.hpp>

namespace nettool::http {
namespace {

TunnelFailure tunnel_failure(ErrorKind kind, std::string message, bool transient = false) {
    TunnelFailure failure;
    failure.error = Error{kind, std::move(message)};
    failure.transient = transient;
    return failure;
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// socks5:// becomes socks5h://: the proxy resolves the name, so that a name only the proxy's
// side of the network knows works, and the local resolver learns nothing (nettool-connect(1)).
// A proxy without a scheme is http, as libcurl takes it.
Result<std::string> proxy_for_libcurl(const std::string& proxy) {
    const auto sep = proxy.find("://");
    if (sep == std::string::npos) return "http://" + proxy;
    const std::string scheme = lower(proxy.substr(0, sep));
    if (scheme == "socks5") return "socks5h" + proxy.substr(sep);
    if (scheme == "socks5h" || scheme == "http") return proxy;
    return fail(ErrorKind::usage,
                fmt::format("connect goes through socks5:// and http:// proxies, not {}:// ones "
                            "(proxy {})",
                            scheme, without_password(proxy)));
}

// The SOCKS5 reply codes of RFC 1928, as the reason a proxy gave.
std::string socks_reason(long proxy_error) {
    switch (proxy_error) {
    case CURLPX_REPLY_GENERAL_SERVER_FAILURE:
        return "general SOCKS server failure (reply 1)";
    case CURLPX_REPLY_NOT_ALLOWED:
        return "connection not allowed by its rules (reply 2)";
    case CURLPX_REPLY_NETWORK_UNREACHABLE:
        return "network unreachable (reply 3)";
    case CURLPX_REPLY_HOST_UNREACHABLE:
        return "host unreachable (reply 4)";
    case CURLPX_REPLY_CONNECTION_REFUSED:
        return "connection refused (reply 5)";
    case CURLPX_REPLY_TTL_EXPIRED:
        return "TTL expired (reply 6)";
    case CURLPX_REPLY_COMMAND_NOT_SUPPORTED:
        return "command not supported (reply 7)";
    case CURLPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED:
        return "address type not supported (reply 8)";
    default:
        return "";
    }
}

// A CONNECT response's status line made to sit in a sentence: printable ASCII, bounded.
std::string shown_status_line(std::string_view line, long code) {
    std::string text;
    for (char c : line) {
        if (c == '\r' || c == '\n') break;
        text += (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f)
                    ? c
                    : '?';
        if (text.size() >= 120) break;
    }
    // "HTTP/1.1 403 Forbidden" -> "HTTP 403 Forbidden"
    const auto space = text.find(' ');
    if (text.starts_with("HTTP/") && space != std::string::npos)
        return "HTTP " + text.substr(space + 1);
    return fmt::format("HTTP {}", code);
}

struct TunnelState {
    std::string status_line; // the last CONNECT response's first line
};

size_t header_callback(char* data, size_t size, size_t count, void* user) {
    auto& state = *static_cast<TunnelState*>(user);
    const std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) state.status_line = std::string(line.substr(0, 256));
    return size * count;
}

int progress_callback(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return stop_requested() ? 1 : 0; // aborts with CURLE_ABORTED_BY_CALLBACK
}

} // namespace

TunnelFailure describe_tunnel_failure(CURLcode code, const TunnelFacts& f) {
    const std::string& proxy = f.proxy;
    const std::string& target = f.target;
    const std::string detail = f.detail.empty() ? curl_easy_strerror(code) : f.detail;
    switch (code) {
    case CURLE_ABORTED_BY_CALLBACK:
        return tunnel_failure(ErrorKind::interrupted, fmt::format("{}: interrupted", target));
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST: // only the proxy's name is resolved here
        return tunnel_failure(ErrorKind::network,
                              fmt::format("cannot resolve the proxy {}: {}; check its host name",
                                          proxy, lower_first(detail)));
    case CURLE_COULDNT_CONNECT:
        return tunnel_failure(
            ErrorKind::network,
            fmt::format("cannot reach the proxy {}: {}; is it running and reachable?", proxy,
                        f.os_errno != 0 ? errno_text(f.os_errno) : lower_first(detail)),
            true);
    case CURLE_OPERATION_TIMEDOUT:
        return tunnel_failure(
            ErrorKind::network,
            fmt::format("connect to {} through the proxy {} timed out{}; raise -w/--timeout if the "
                        "proxy is slow",
                        target, proxy,
                        f.timeout_text.empty() ? "" : fmt::format(" after {}", f.timeout_text)),
            true);
    case CURLE_PROXY:
        break; // below: the SOCKS handshake's own code
    default:
        if (f.connect_code != 0 && (f.connect_code < 200 || f.connect_code > 299)) {
            const std::string status = shown_status_line(f.status_line, f.connect_code);
            if (f.connect_code == 407) {
                return tunnel_failure(
                    ErrorKind::auth,
                    f.credentials_offered
                        ? fmt::format("the proxy {} rejected the user name and password ({}); "
                                      "check the USER:PASS@ in the proxy URL",
                                      proxy, status)
                        : fmt::format("the proxy {} requires authentication ({}); put USER:PASS@ "
                                      "in the proxy URL",
                                      proxy, status));
            }
            // 502/503/504: the proxy could not reach the target (yet); worth a --wait retry.
            const bool transient =
                f.connect_code == 502 || f.connect_code == 503 || f.connect_code == 504;
            return tunnel_failure(
                ErrorKind::network,
                fmt::format("the proxy {} refused to connect to {}: {}", proxy, target, status),
                transient);
        }
        if (code != CURLE_RECV_ERROR && code != CURLE_SEND_ERROR && code != CURLE_GOT_NOTHING &&
            code != CURLE_WEIRD_SERVER_REPLY && code != CURLE_OUT_OF_MEMORY) {
            return tunnel_failure(ErrorKind::network,
                                  fmt::format("connect to {} through the proxy {} failed: {}",
                                              target, proxy, lower_first(detail)));
        }
        if (code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING ||
            (code == CURLE_RECV_ERROR && (f.os_errno != 0 || f.reply_bytes == 0))) {
            return tunnel_failure(ErrorKind::network,
                                  fmt::format("the proxy {} closed or reset the connection during "
                                              "its handshake for {} ({})",
                                              proxy, target, lower_first(detail)));
        }
        if (f.connect_code == 0) {
            return tunnel_failure(ErrorKind::protocol,
                                  fmt::format("the proxy {} answered the CONNECT for {} with "
                                              "something that is not HTTP; is it an HTTP proxy?",
                                              proxy, target));
        }
        // A reply libcurl could not read (one too large, a broken header).
        return tunnel_failure(ErrorKind::protocol,
                              fmt::format("the proxy {} sent a malformed reply to the CONNECT for "
                                          "{}: {}",
                                          proxy, target, lower_first(detail)));
    }

    switch (f.proxy_error) {
    case CURLPX_USER_REJECTED:
        return tunnel_failure(ErrorKind::auth,
                              fmt::format("the proxy {} rejected the user name and password; "
                                          "check the USER:PASS@ in the proxy URL",
                                          proxy));
    case CURLPX_NO_AUTH:
        return tunnel_failure(
            ErrorKind::auth,
            f.credentials_offered
                ? fmt::format("the proxy {} accepts none of the authentication methods nettool "
                              "offers (none, username/password)",
                              proxy)
                : fmt::format("the proxy {} requires authentication; put USER:PASS@ in the proxy "
                              "URL",
                              proxy));
    case CURLPX_LONG_USER:
    case CURLPX_LONG_PASSWD:
    case CURLPX_LONG_HOSTNAME:
        return tunnel_failure(
            ErrorKind::usage,
            fmt::format("the proxy {} cannot take {}: SOCKS5 allows at most 255 bytes", proxy,
                        f.proxy_error == CURLPX_LONG_HOSTNAME
                            ? fmt::format("the host of {}", target)
                        : f.proxy_error == CURLPX_LONG_USER ? std::string("the user name")
                                                            : std::string("the password")));
    case CURLPX_REPLY_GENERAL_SERVER_FAILURE:
    case CURLPX_REPLY_NOT_ALLOWED:
    case CURLPX_REPLY_NETWORK_UNREACHABLE:
    case CURLPX_REPLY_HOST_UNREACHABLE:
    case CURLPX_REPLY_CONNECTION_REFUSED:
    case CURLPX_REPLY_TTL_EXPIRED:
    case CURLPX_REPLY_COMMAND_NOT_SUPPORTED:
    case CURLPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED: {
        const bool transient = f.proxy_error == CURLPX_REPLY_CONNECTION_REFUSED ||
                               f.proxy_error == CURLPX_REPLY_HOST_UNREACHABLE ||
                               f.proxy_error == CURLPX_REPLY_NETWORK_UNREACHABLE ||
                               f.proxy_error == CURLPX_REPLY_TTL_EXPIRED;
        return tunnel_failure(ErrorKind::network,
                              fmt::format("the proxy {} refused to connect to {}: {}", proxy,
                                          target, socks_reason(f.proxy_error)),
                              transient);
    }
    case CURLPX_CLOSED:
    case CURLPX_SEND_AUTH:
    case CURLPX_SEND_CONNECT:
    case CURLPX_SEND_REQUEST:
        return tunnel_failure(ErrorKind::network,
                              fmt::format("the proxy {} closed the connection during its SOCKS5 "
                                          "handshake for {}",
                                          proxy, target));
    case CURLPX_RECV_AUTH:
    case CURLPX_RECV_CONNECT:
    case CURLPX_RECV_REQACK:
    case CURLPX_RECV_ADDRESS:
        if (f.os_errno != 0) {
            return tunnel_failure(ErrorKind::network,
                                  fmt::format("the proxy {} failed during its SOCKS5 handshake "
                                              "for {}: {}",
                                              proxy, target, errno_text(f.os_errno)));
        }
        return tunnel_failure(ErrorKind::network,
                              fmt::format("the proxy {} closed the connection during its SOCKS5 "
                                          "handshake for {}",
                                          proxy, target));
    default:
        // BAD_VERSION, BAD_ADDRESS_TYPE, REPLY_UNASSIGNED ...: not what SOCKS5 allows.
        return tunnel_failure(ErrorKind::protocol,
                              fmt::format("the proxy {} sent a malformed SOCKS5 reply for {}: {}",
                                          proxy, target, lower_first(detail)));
    }
}

TunnelResult open_curl_tunnel(const TunnelRequest& request) {
    auto proxy = proxy_for_libcurl(request.proxy);
    if (!proxy) return tl::unexpected(TunnelFailure{proxy.error(), false});
    if (auto checked = check_proxy_url(*proxy); !checked)
        return tl::unexpected(TunnelFailure{checked.error(), false});
    // The URL parser adds a path ("http://u@host:1/"); the proxy is shown as typed otherwise.
    std::string shown = without_password(*proxy);
    if (shown.ends_with('/') && !proxy->ends_with('/')) shown.pop_back();
    const std::string target = format_host_port(request.host, request.port);

    ensure_curl_initialized();
    EasyHandle handle(curl_easy_init());
    if (!handle) return tl::unexpected(tunnel_failure(ErrorKind::generic, "out of memory"));
    CURL* easy = handle.get();
    TunnelState state;
    char error_buffer[CURL_ERROR_SIZE] = {};
    // http://HOST:PORT/ only names the target: the transfer stops once connected (no request).
    const std::string url = fmt::format("http://{}/", target);
    const long resolve = request.ip_family == IpFamily::v4   ? CURL_IPRESOLVE_V4
                         : request.ip_family == IpFamily::v6 ? CURL_IPRESOLVE_V6
                                                             : CURL_IPRESOLVE_WHATEVER;
    bool refused = false;
    const auto set = [&](CURLoption option, auto value) {
        if (curl_easy_setopt(easy, option, value) != CURLE_OK) refused = true;
    };
    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http");
    set(CURLOPT_CONNECT_ONLY, 1L);
    set(CURLOPT_PROXY, proxy->c_str());
    set(CURLOPT_NOPROXY, ""); // the caller decided (nettool-connect(1), PROXIES)
    set(CURLOPT_HTTPPROXYTUNNEL, 1L);
    set(CURLOPT_PROXYAUTH, static_cast<long>(CURLAUTH_BASIC));
    set(CURLOPT_SOCKS5_AUTH, static_cast<long>(CURLAUTH_BASIC)); // username/password, no GSSAPI
    set(CURLOPT_IPRESOLVE, resolve);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_ERRORBUFFER, error_buffer);
    set(CURLOPT_USERAGENT, "nettool");
    set(CURLOPT_HEADERFUNCTION, &header_callback);
    set(CURLOPT_HEADERDATA, static_cast<void*>(&state));
    set(CURLOPT_NOPROGRESS, 0L);
    set(CURLOPT_XFERINFOFUNCTION, &progress_callback);
    if (request.timeout) {
        const long ms = static_cast<long>(std::max<std::int64_t>(request.timeout->count(), 1));
        set(CURLOPT_CONNECTTIMEOUT_MS, ms);
        set(CURLOPT_TIMEOUT_MS, ms);
    }
    if (refused) {
        return tl::unexpected(tunnel_failure(
            ErrorKind::generic, "the libcurl nettool runs with cannot open proxy tunnels"));
    }

    const CURLcode code = curl_easy_perform(easy);
    if (code != CURLE_OK) {
        TunnelFacts facts;
        facts.proxy = shown;
        facts.target = target;
        facts.detail = error_buffer;
        while (!facts.detail.empty() && (facts.detail.back() == '\n' || facts.detail.back() == '.'))
            facts.detail.pop_back();
        curl_easy_getinfo(easy, CURLINFO_PROXY_ERROR, &facts.proxy_error);
        curl_easy_getinfo(easy, CURLINFO_HTTP_CONNECTCODE, &facts.connect_code);
        long os_errno = 0;
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
        facts.os_errno = static_cast<int>(os_errno);
        facts.status_line = state.status_line;
        // Complete reply lines received (the CONNECT response's count here too).
        curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &facts.reply_bytes);
        facts.credentials_offered = proxy->find('@') != std::string::npos;
        if (request.timeout) facts.timeout_text = duration_text(*request.timeout);
        TunnelFailure failure = describe_tunnel_failure(code, facts);
        failure.error.curl_code = static_cast<int>(code);
        failure.error.sys_errno = facts.os_errno;
        return tl::unexpected(std::move(failure));
    }

    curl_socket_t socket = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &socket) != CURLE_OK ||
        socket == CURL_SOCKET_BAD) {
        return tl::unexpected(tunnel_failure(
            ErrorKind::generic, fmt::format("libcurl lost the tunnel through {}", shown)));
    }
    Tunnel tunnel;
    tunnel.fd = UniqueFd(::fcntl(socket, F_DUPFD_CLOEXEC, 3));
    if (!tunnel.fd) {
        const int err = errno;
        return tl::unexpected(TunnelFailure{
            Error{ErrorKind::generic,
                  fmt::format("cannot keep the tunnel through {}: {}", shown, errno_text(err)), err,
                  0},
            false});
    }
    tunnel.proxy_shown = shown;
    char* ip = nullptr;
    long port = 0;
    if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != nullptr &&
        curl_easy_getinfo(easy, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK) {
        tunnel.proxy_address = format_host_port(ip, static_cast<std::uint16_t>(port));
    }
    // libcurl's socket is non-blocking already; the duplicate shares its file description.
    return tunnel;
}

} // namespace nettool::http
