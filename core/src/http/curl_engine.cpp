// The libcurl transfer engine. One easy handle per engine, reset between transfers so that
// its connection cache carries over (connection reuse) while no option leaks from one request
// into the next.
#include "curl_errors.hpp"
#include "curl_handles.hpp"
#include "curl_prepared.hpp"
#include "curl_share.hpp"
#include "curl_transfer.hpp"
#include "curl_tunnel.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/http/transfer.hpp>
#include <nettool/http/url.hpp>
#include <nettool/stop.hpp>
#include <stdexcept>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool::http {

namespace {

constexpr const char* k_protocols = "http,https,ftp,ftps,file";
constexpr const char* k_redirect_protocols = "http,https";

TransferError failure(ErrorKind kind, FailureCause cause, std::string message) {
    TransferError result;
    result.error = Error{kind, std::move(message)};
    result.cause = cause;
    return result;
}

// Collects the first failing curl_easy_setopt (an option the linked libcurl lacks) so it is
// reported instead of silently ignored: a missing redirect allow-list would be a hole.
class Setter {
  public:
    explicit Setter(CURL* easy) : m_easy(easy) {}
    template <class T> void operator()(CURLoption option, T value, const char* name) {
        const CURLcode rc = curl_easy_setopt(m_easy, option, value);
        if (rc != CURLE_OK && !m_failed)
            m_failed = fmt::format("libcurl refused {}: {}", name, curl_easy_strerror(rc));
    }
    const std::optional<std::string>& failed() const { return m_failed; }

  private:
    CURL* m_easy;
    std::optional<std::string> m_failed;
};
#define NETTOOL_SET(setter, option, value) setter(option, value, #option)

// CURLOPT_DEBUGFUNCTION: libcurl's view of the exchange, handed on in nettool's terms. TLS
// records (SSL_DATA_*) are left out: they are ciphertext.
int trace_callback(CURL*, curl_infotype type, char* data, size_t size, void* user) {
    const auto& trace = *static_cast<const TraceCallback*>(user);
    const std::string_view bytes(data, size);
    switch (type) {
    case CURLINFO_TEXT:
        trace(TraceKind::info, bytes);
        break;
    case CURLINFO_HEADER_OUT:
        trace(TraceKind::header_out, bytes);
        break;
    case CURLINFO_HEADER_IN:
        trace(TraceKind::header_in, bytes);
        break;
    case CURLINFO_DATA_OUT:
        trace(TraceKind::data_out, bytes);
        break;
    case CURLINFO_DATA_IN:
        trace(TraceKind::data_in, bytes);
        break;
    default:
        break;
    }
    return 0;
}

bool is_authorization_header(std::string_view header) {
    return header.size() >= 14 && ::strncasecmp(header.data(), "authorization:", 14) == 0;
}

// A local file the transfer needs: unreadable or unwritable -> exit 3 before any network.
std::optional<TransferError> check_readable(const std::string& path, std::string_view what) {
    if (::access(path.c_str(), R_OK) == 0) return std::nullopt;
    return failure(ErrorKind::file_io, FailureCause::local_io,
                   fmt::format("cannot read {} '{}': {}", what, path, errno_text(errno)));
}

std::optional<TransferError> check_jar_writable(const std::string& path) {
    if (::access(path.c_str(), F_OK) == 0) {
        if (::access(path.c_str(), W_OK) == 0) return std::nullopt;
    } else {
        const auto slash = path.rfind('/');
        const std::string dir =
            slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
        if (::access(dir.c_str(), W_OK) == 0) return std::nullopt;
    }
    return failure(ErrorKind::file_io, FailureCause::local_io,
                   fmt::format("cannot write the cookie jar '{}': {}", path, errno_text(errno)));
}

constexpr long k_receive_buffer = 256L * 1024;

} // namespace

PreparedTransfer::PreparedTransfer(CURL* easy, const Request& request, TransferSink& sink)
    : m_easy(easy), m_request(request),
      m_transfer(easy, request, sink,
                 request.url.scheme == "http" || request.url.scheme == "https") {
    curl_easy_reset(easy);
}

PreparedTransfer::~PreparedTransfer() {
    // Unhook the callbacks and the header list: they point into this object. libcurl 7.88's
    // reset forgets (leaks) the list of cookie files; NULL frees it.
    curl_easy_setopt(m_easy, CURLOPT_COOKIEFILE, static_cast<char*>(nullptr));
    curl_easy_reset(m_easy);
}

std::optional<TransferError> PreparedTransfer::configure(CURLSH* share, bool small_reads) {
    const Request& request = m_request;
    const Url* url = &request.url;
    const TransferOptions& o = request.options;
    CURL* easy = m_easy;
    CurlTransfer& transfer = m_transfer;
    Setter set(easy);
    char* error_buffer = m_error_buffer;
    Slist& headers = m_headers;

    if (share != nullptr) NETTOOL_SET(set, CURLOPT_SHARE, share);
    NETTOOL_SET(set, CURLOPT_URL, url->text.c_str());
    NETTOOL_SET(set, CURLOPT_PROTOCOLS_STR, k_protocols);
    NETTOOL_SET(set, CURLOPT_REDIR_PROTOCOLS_STR, k_redirect_protocols);
    NETTOOL_SET(set, CURLOPT_FOLLOWLOCATION, o.follow_redirects ? 1L : 0L);
    NETTOOL_SET(set, CURLOPT_MAXREDIRS, o.max_redirects);
    NETTOOL_SET(set, CURLOPT_NOSIGNAL, 1L);
    // Fewer, larger reads than the default 16 KiB: at loopback speeds the per-call cost shows
    // (libcurl still hands the body on in pieces of at most 16 KiB). Up to 512 KiB is taken by
    // every libcurl since 7.53; 256 KiB already reads what a loopback socket holds.
    // A rate limit is kept by pausing between reads: it needs the small ones.
    if (!o.limit_rate && !small_reads) NETTOOL_SET(set, CURLOPT_BUFFERSIZE, k_receive_buffer);
    NETTOOL_SET(set, CURLOPT_ERRORBUFFER, error_buffer);
    if (o.decode_content) {
        NETTOOL_SET(set, CURLOPT_ACCEPT_ENCODING, ""); // every encoding libcurl can decode
    } else {
        // Without Accept-Encoding any coding is acceptable (RFC 9110), so ask for identity;
        // a server that codes the body anyway is saved as sent, never decoded.
        NETTOOL_SET(set, CURLOPT_ACCEPT_ENCODING, "identity");
        NETTOOL_SET(set, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    }
    NETTOOL_SET(set, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    NETTOOL_SET(set, CURLOPT_FILETIME, 1L);
    NETTOOL_SET(set, CURLOPT_USERAGENT, o.user_agent.empty() ? "nettool" : o.user_agent.c_str());
    NETTOOL_SET(set, CURLOPT_SSL_VERIFYPEER, o.insecure ? 0L : 1L);
    NETTOOL_SET(set, CURLOPT_SSL_VERIFYHOST, o.insecure ? 0L : 2L);
    if (o.cacert) {
        if (auto bad = check_readable(*o.cacert, "the CA bundle")) return *bad;
        NETTOOL_SET(set, CURLOPT_CAINFO, o.cacert->c_str());
    }
    if (o.proxy) {
        // libcurl reports a proxy it cannot parse as unresolvable (exit 4); it is the user's.
        // An empty one means none at all.
        if (auto checked = o.proxy->empty() ? Status{} : check_proxy_url(*o.proxy); !checked) {
            return failure(ErrorKind::usage, FailureCause::usage, checked.error().message);
        }
        NETTOOL_SET(set, CURLOPT_PROXY, o.proxy->c_str());
    }
    const long resolve = o.ip_family == IpFamily::v4   ? CURL_IPRESOLVE_V4
                         : o.ip_family == IpFamily::v6 ? CURL_IPRESOLVE_V6
                                                       : CURL_IPRESOLVE_WHATEVER;
    NETTOOL_SET(set, CURLOPT_IPRESOLVE, resolve);
    if (o.timeout) NETTOOL_SET(set, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout->count()));
    if (o.connect_timeout)
        NETTOOL_SET(set, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout->count()));
    if (o.limit_rate)
        NETTOOL_SET(set, CURLOPT_MAX_RECV_SPEED_LARGE, static_cast<curl_off_t>(*o.limit_rate));
    if (o.trace) {
        NETTOOL_SET(set, CURLOPT_DEBUGFUNCTION, &trace_callback);
        NETTOOL_SET(set, CURLOPT_DEBUGDATA, static_cast<const void*>(&o.trace));
        NETTOOL_SET(set, CURLOPT_VERBOSE, 1L);
    }

    // Request shape.
    for (const auto& header : o.headers)
        headers.append(header.c_str());
    if (request.resume_from > 0 || request.range_last) {
        const std::string range =
            request.range_last ? fmt::format("{}-{}", request.resume_from, *request.range_last)
                               : fmt::format("{}-", request.resume_from);
        NETTOOL_SET(set, CURLOPT_RANGE, range.c_str()); // copied by libcurl
        if (request.if_range)
            headers.append(fmt::format("If-Range: {}", *request.if_range).c_str());
    }
    if (request.if_modified_since) {
        NETTOOL_SET(set, CURLOPT_TIMECONDITION, static_cast<long>(CURL_TIMECOND_IFMODSINCE));
        NETTOOL_SET(set, CURLOPT_TIMEVALUE_LARGE,
                    static_cast<curl_off_t>(
                        std::chrono::system_clock::to_time_t(*request.if_modified_since)));
    }
    if (o.data) {
        NETTOOL_SET(set, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(o.data->size()));
        NETTOOL_SET(set, CURLOPT_COPYPOSTFIELDS, o.data->c_str());
    } else if (o.data_file) {
        UniqueFd fd(*o.data_file == "-" ? ::dup(STDIN_FILENO)
                                        : ::open(o.data_file->c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            return failure(ErrorKind::file_io, FailureCause::local_io,
                           fmt::format("cannot read the request body file '{}': {}", *o.data_file,
                                       errno_text(errno)));
        }
        struct stat st {};
        curl_off_t size = -1; // unknown (a pipe): sent chunked
        if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode))
            size = static_cast<curl_off_t>(st.st_size);
        transfer.set_upload(std::move(fd));
        NETTOOL_SET(set, CURLOPT_POST, 1L);
        NETTOOL_SET(set, CURLOPT_POSTFIELDSIZE_LARGE, size);
    }
    if (!o.method.empty()) NETTOOL_SET(set, CURLOPT_CUSTOMREQUEST, o.method.c_str());
    if (request.head_only || o.method == "HEAD") NETTOOL_SET(set, CURLOPT_NOBODY, 1L);
    if (headers.get() != nullptr) NETTOOL_SET(set, CURLOPT_HTTPHEADER, headers.get());

    // Authentication. libcurl sends credentials only to the host they were given for, also
    // across redirects (no CURLOPT_UNRESTRICTED_AUTH).
    if (o.user) {
        NETTOOL_SET(set, CURLOPT_USERNAME, o.user->c_str());
        NETTOOL_SET(set, CURLOPT_PASSWORD, o.password ? o.password->c_str() : "");
    }
    if (o.user || o.netrc || o.netrc_file) {
        const long scheme = o.auth == AuthScheme::digest ? CURLAUTH_DIGEST
                            : o.auth == AuthScheme::any  ? CURLAUTH_ANY
                                                         : CURLAUTH_BASIC;
        NETTOOL_SET(set, CURLOPT_HTTPAUTH, scheme);
    }
    if (o.bearer) {
        NETTOOL_SET(set, CURLOPT_XOAUTH2_BEARER, o.bearer->c_str());
        NETTOOL_SET(set, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BEARER));
    }
    if (o.netrc || o.netrc_file) {
        if (o.netrc_file) {
            if (auto bad = check_readable(*o.netrc_file, "the netrc file")) return *bad;
            NETTOOL_SET(set, CURLOPT_NETRC_FILE, o.netrc_file->c_str());
        }
        NETTOOL_SET(set, CURLOPT_NETRC, static_cast<long>(CURL_NETRC_OPTIONAL));
    }
    transfer.credentials_offered =
        o.user || o.bearer || o.netrc || o.netrc_file || url->has_credentials ||
        std::any_of(o.headers.begin(), o.headers.end(), is_authorization_header);
    transfer.proxy_credentials_offered = o.proxy && o.proxy->find('@') != std::string::npos;

    // Cookies: start each transfer from an empty cookie store, then load what was asked for.
    NETTOOL_SET(set, CURLOPT_COOKIELIST, "ALL");
    if (o.cookie) NETTOOL_SET(set, CURLOPT_COOKIE, o.cookie->c_str());
    if (o.cookie_file) {
        if (auto bad = check_readable(*o.cookie_file, "the cookie file")) return *bad;
        NETTOOL_SET(set, CURLOPT_COOKIEFILE, o.cookie_file->c_str());
    }
    if (o.cookie_jar) {
        if (auto bad = check_jar_writable(*o.cookie_jar)) return *bad;
        // Loaded when it exists ("" only switches the cookie engine on), saved after the transfer.
        NETTOOL_SET(set, CURLOPT_COOKIEFILE,
                    ::access(o.cookie_jar->c_str(), R_OK) == 0 ? o.cookie_jar->c_str() : "");
        NETTOOL_SET(set, CURLOPT_COOKIEJAR, o.cookie_jar->c_str());
    }

    if (set.failed()) return failure(ErrorKind::generic, FailureCause::other, *set.failed());
    transfer.install_callbacks();
    return std::nullopt;
}

TransferResult PreparedTransfer::conclude(CURLcode code) {
    const Request& request = m_request;
    const Url* url = &request.url;
    const TransferOptions& o = request.options;
    CURL* easy = m_easy;
    CurlTransfer& transfer = m_transfer;
    const char* error_buffer = m_error_buffer;
    // The jar is written now rather than at handle clean-up, which may be much later.
    if (o.cookie_jar) curl_easy_setopt(easy, CURLOPT_COOKIELIST, "FLUSH");

    if (code == CURLE_OK) {
        if (auto stored = transfer.finish_ok()) return tl::unexpected(*stored);
        TransferOutcome outcome;
        outcome.head = transfer.final_head();
        outcome.body_bytes = transfer.body_bytes();
        long redirects = 0;
        curl_easy_getinfo(easy, CURLINFO_REDIRECT_COUNT, &redirects);
        outcome.redirects = redirects;
        long unmet = 0;
        curl_easy_getinfo(easy, CURLINFO_CONDITION_UNMET, &unmet);
        outcome.condition_unmet = unmet != 0 || outcome.head.status == 304;
        return outcome;
    }
    if (auto stored = transfer.stored_failure()) {
        TransferError result = *stored;
        result.body_bytes = transfer.body_bytes();
        return tl::unexpected(result);
    }
    FailureContext context;
    char* effective = nullptr;
    context.url = curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK &&
                          effective != nullptr
                      ? without_password(effective)
                      : url->shown;
    context.error_buffer = error_buffer;
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    context.os_errno = static_cast<int>(os_errno);
    context.max_redirects = o.max_redirects;
    context.credentials_offered = transfer.credentials_offered;
    context.scheme = url->scheme;
    context.following_redirect = transfer.following_redirect();
    context.redirect_location = transfer.last_location().value_or("");
    context.redirect_from = transfer.last_redirect_from();
    context.in_headers = !transfer.final_delivered();
    TransferError result = map_curl_error(code, context);
    if (code == CURLE_ABORTED_BY_CALLBACK && !stop_requested()) {
        result.error =
            Error{ErrorKind::generic, fmt::format("{}: the transfer was aborted", context.url)};
        result.cause = FailureCause::other;
    }
    result.body_bytes = transfer.body_bytes();
    if (transfer.final_delivered()) result.http_status = transfer.final_head().status;
    return tl::unexpected(result);
}

namespace {

class CurlTransferEngine final : public TransferEngine {
  public:
    CurlTransferEngine(EasyHandle easy, std::shared_ptr<ConnectionShare> share)
        : m_share(std::move(share)), m_easy(std::move(easy)) {}
    // A handle of its own: the tunnel's socket must not stay in this engine's connection cache.
    TunnelResult open_tunnel(const TunnelRequest& request) override {
        return open_curl_tunnel(request);
    }
    TransferResult perform(const Request& request, TransferSink& sink) override {
        PreparedTransfer prepared(m_easy.get(), request, sink);
        CURLSH* share = m_share ? static_cast<CurlShare*>(m_share.get())->get() : nullptr;
        if (auto refused = prepared.configure(share, false)) return tl::unexpected(*refused);
        return prepared.conclude(curl_easy_perform(m_easy.get()));
    }

  private:
    // Declared first: the easy handle is cleaned up before the share it uses.
    std::shared_ptr<ConnectionShare> m_share;
    EasyHandle m_easy;
};

} // namespace

std::unique_ptr<TransferEngine> make_transfer_engine(std::shared_ptr<ConnectionShare> share) {
    ensure_curl_initialized();
    EasyHandle easy(curl_easy_init());
    // Out of memory at start-up: an always-on check rather than a null engine.
    if (!easy) throw std::bad_alloc();
    // Only shares made by make_connection_share() exist; anything else is a programming error.
    if (share && dynamic_cast<CurlShare*>(share.get()) == nullptr)
        throw std::logic_error("foreign ConnectionShare");
    return std::make_unique<CurlTransferEngine>(std::move(easy), std::move(share));
}

std::unique_ptr<TransferEngine> make_transfer_engine() {
    return make_transfer_engine(nullptr);
}

} // namespace nettool::http
