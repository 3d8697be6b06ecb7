#pragma once
// The HTTP transfer engine: one request in, a response head and a streamed body out, through
// a sink the caller implements. Shared by `get` and `retrieve`. These types are nettool's own:
// libcurl stays inside core/src/http/ (ARCHITECTURE.md), created through make_transfer_engine() so
// that it can move into a lazily loaded module later.
//
// What the engine does for every transfer (the protocol policy of nettool-get(1)):
// - The URL typed may be http, https, ftp, ftps or file; a URL without a scheme is http.
// - Redirects (when followed) may only lead to http or https; at most max_redirects of them.
// - Compressed bodies (gzip, deflate, br where libcurl has it) are accepted and decoded, unless
//   TransferOptions::decode_content is false: then the request asks for the identity coding
//   and the body is delivered exactly as sent (retrieve: byte ranges count those bytes).
// - A 206 must carry a Content-Range starting where the request asked (at 0 without a range).
// - The body of a final response with status >= 400 is not delivered unless ignore_status:
//   the transfer then fails with ErrorKind::server ("HTTP 404 Not Found: URL"), or
//   ErrorKind::auth for 401/407 when credentials were offered.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nettool/error.hpp>
#include <nettool/http/url.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace nettool::http {

enum class AuthScheme { basic, digest, any };
enum class IpFamily { any, v4, v6 };

// What crosses the wire, for a trace (get -v, --trace-ascii): the library's notes, and the
// header blocks and body bytes in each direction as sent and received (TLS already removed,
// content encodings not yet decoded).
enum class TraceKind { info, header_out, header_in, data_out, data_in };
using TraceCallback = std::function<void(TraceKind kind, std::string_view bytes)>;

struct TransferOptions {
    // Request shape.
    std::string method;                   // -X; empty: GET, or POST when a body is given
    std::vector<std::string> headers;     // -H "Name: value", as typed (repeatable)
    std::optional<std::string> data;      // -d: the request body, sent as is
    std::optional<std::string> data_file; // --data-binary @FILE: the body is this file's bytes
    std::string user_agent;               // empty: "nettool/VERSION"

    // Authentication.
    std::optional<std::string> user;     // -u USER (the password separately)
    std::optional<std::string> password; // set by the caller (prompted, or after ':')
    AuthScheme auth = AuthScheme::basic;
    std::optional<std::string> bearer; // Authorization: Bearer TOKEN
    bool netrc = false;                // ~/.netrc (or netrc_file) supplies credentials
    std::optional<std::string> netrc_file;

    // Cookies.
    std::optional<std::string> cookie;      // "k=v; k2=v2", sent as is
    std::optional<std::string> cookie_file; // read cookies from this file (Netscape format)
    std::optional<std::string> cookie_jar;  // loaded when it exists, saved after the transfer

    // Redirects.
    bool follow_redirects = true;
    long max_redirects = 10;

    // Limits.
    std::optional<std::chrono::milliseconds> timeout;         // whole transfer
    std::optional<std::chrono::milliseconds> connect_timeout; // connection set-up
    std::optional<std::uint64_t> limit_rate;                  // bytes per second

    // TLS, proxy, addressing.
    std::optional<std::string> cacert; // CA bundle file instead of the system's
    bool insecure = false;             // no certificate verification
    std::optional<std::string> proxy;  // else libcurl reads http_proxy/https_proxy/no_proxy
    IpFamily ip_family = IpFamily::any;

    // Deliver the body of a status >= 400 response and succeed (get --ignore-status).
    bool ignore_status = false;

    // Ask for compressed bodies and decode them (get). False: send "Accept-Encoding:
    // identity" and deliver the bytes as the server sent them, coded or not (retrieve), so
    // that a resumed range continues the very bytes already saved.
    bool decode_content = true;

    // Called with every exchange of the transfer, on the thread that runs it; empty: no trace.
    TraceCallback trace;
};

struct Request {
    Url url; // parsed once, where the user typed it (cmd/)
    TransferOptions options;
    // Resume: ask for the bytes from this offset on (Range: bytes=N-). The server may answer
    // 206 (ResponseHead::resumed is true and the body starts at resume_from) or 200 (the whole
    // body from byte 0: the sink must start over) or 416.
    std::uint64_t resume_from = 0;
    // A bounded range (retrieve --split): "Range: bytes=resume_from-range_last", sent even
    // from byte 0; a 206 must then cover exactly that range (ResponseHead::resumed is true).
    std::optional<std::uint64_t> range_last;
    // Sent as If-Range with the range (an ETag or an HTTP date), so a changed resource comes
    // back whole (200) instead of a wrong tail.
    std::optional<std::string> if_range;
    // If-Modified-Since: an unchanged resource answers 304 (outcome.condition_unmet).
    std::optional<std::chrono::system_clock::time_point> if_modified_since;
    bool head_only = false; // HEAD: no body
};

struct Header {
    std::string name; // as sent by the server
    std::string value;
};

struct ResponseHead {
    int status = 0;              // HTTP status; 0 for file:, the last reply code for ftp:
    std::string reason;          // "Not Found"; empty for HTTP/2 (no reason phrase) and non-HTTP
    std::string protocol;        // "HTTP/1.1", "HTTP/2"; empty for non-HTTP
    std::vector<Header> headers; // in order, names as sent
    std::string raw;             // status line and header lines exactly as received, CRLFs included
    std::string url;             // the URL this response came from (after redirects)
    std::string path;            // that URL's path ("/dir/name.tar.gz", still percent-encoded)
    std::optional<std::uint64_t> content_length;
    bool resumed = false; // the body continues at Request::resume_from (206, or a non-HTTP range)
    // The resource's modification time: Last-Modified for HTTP, MDTM for ftp, mtime for file.
    std::optional<std::chrono::system_clock::time_point> last_modified;

    // The first header with this name (case-insensitive), or nullopt.
    std::optional<std::string_view> find(std::string_view name) const;
    // Every header with this name, in order (Set-Cookie, Link ...).
    std::vector<std::string_view> find_all(std::string_view name) const;
    bool is_http() const { return !protocol.empty(); }
};

// Receives one transfer's events. A Status error returned from on_response or on_body aborts
// the transfer; perform() then fails with exactly that error.
class TransferSink {
  public:
    virtual ~TransferSink() = default;
    // The final response (not 1xx, not a followed redirect, not an auth challenge that was
    // answered), once, before any body byte. Also called for status >= 400 (whose body is
    // withheld unless ignore_status), so the caller can dump its headers.
    virtual Status on_response(const ResponseHead& head) = 0;
    // A chunk of the body (decoded unless decode_content is false), in order. Never the whole
    // body at once.
    virtual Status on_body(std::span<const char> chunk) = 0;
    // A response that was not the final one: a redirect followed, an auth challenge answered.
    virtual void on_intermediate(const ResponseHead& /*head*/) {}
    // Body bytes received so far in this transfer and the expected total when known.
    virtual void on_progress(std::uint64_t /*done*/, std::optional<std::uint64_t> /*total*/) {}
};

struct TransferOutcome {
    ResponseHead head;            // the final response
    std::uint64_t body_bytes = 0; // delivered to on_body
    long redirects = 0;
    bool condition_unmet = false; // if_modified_since: not modified (304, or file: unchanged)
};

// Why a transfer failed, finer than ErrorKind: the retry policy decides on it.
enum class FailureCause {
    usage,       // malformed URL, unreadable --data-binary file ... (exit 2/3)
    resolve,     // name resolution
    connect,     // refused, unreachable
    timeout,     // connect or transfer timeout
    reset,       // connection reset or closed mid-way (send/recv errors)
    partial,     // body shorter than announced
    tls,         // handshake, certificate
    redirect,    // too many redirects, redirect to a refused scheme
    protocol,    // malformed or unexpected response
    http_status, // a final status >= 400 (http_status says which)
    auth,        // 401/407 after credentials were offered
    local_io,    // a local file (cookie jar, data file, output) failed
    sink,        // the sink returned an error (its own kind is in error)
    interrupted, // stop_requested()
    other,
};

struct TransferError {
    Error error; // kind (exit code) and the sentence to print
    FailureCause cause = FailureCause::other;
    int http_status = 0;                    // the final status when one was received
    std::optional<std::string> retry_after; // the Retry-After header of that response
    std::uint64_t body_bytes = 0;           // delivered to on_body before the failure
};

using TransferResult = tl::expected<TransferOutcome, TransferError>;

// A TCP connection to host:port through a proxy (connect --proxy), for the caller to relay
// over (or to layer TLS on): the proxy resolves the host name and makes the connection.
struct TunnelRequest {
    // socks5:// (treated as socks5h://: the proxy resolves), socks5h:// or http:// (CONNECT),
    // with optional USER:PASS@; as typed, so it may hold a password (never shown).
    std::string proxy;
    std::string host; // as the user wrote it, without brackets ("localhost", "::1")
    std::uint16_t port = 0;
    // The whole set-up: reaching the proxy, its handshake, authentication and its connection
    // to the target. nullopt: no limit.
    std::optional<std::chrono::milliseconds> timeout;
    IpFamily ip_family = IpFamily::any; // for reaching the proxy (the proxy picks the target's)
};

struct Tunnel {
    UniqueFd fd;               // connected to the proxy, the handshake done; non-blocking
    std::string proxy_shown;   // the proxy URL without its password ("socks5h://u@host:1080")
    std::string proxy_address; // the address reached ("127.0.0.1:1080")
};

struct TunnelFailure {
    // Exit codes: 4 the proxy refused the connection (its reason, naming the proxy) or could not
    // be reached, 6 it refused the credentials or demanded some, 7 its reply was malformed,
    // 2 a proxy URL libcurl cannot use; 130 interrupted.
    Error error;
    // Whether trying again later could help (--wait): the proxy unreachable, the target refused
    // or unreachable from the proxy, a time-out.
    bool transient = false;
};

using TunnelResult = tl::expected<Tunnel, TunnelFailure>;

// Performs transfers one at a time. An engine keeps its connections open between perform()
// calls (reuse); use one engine per thread.
class TransferEngine {
  public:
    virtual ~TransferEngine() = default;
    virtual TransferResult perform(const Request& request, TransferSink& sink) = 0;
    // A new connection through a proxy, not shared with transfers (the caller owns it).
    virtual TunnelResult open_tunnel(const TunnelRequest& request) = 0;
};

// The libcurl engine.
std::unique_ptr<TransferEngine> make_transfer_engine();

// Open connections, DNS answers and TLS sessions shared by several engines, for instance one
// per worker thread (retrieve -j): an engine reuses a connection another one left open.
// Thread-safe; keep it alive as long as the engines (they hold a reference).
class ConnectionShare {
  public:
    virtual ~ConnectionShare() = default;
};
std::shared_ptr<ConnectionShare> make_connection_share();
std::unique_ptr<TransferEngine> make_transfer_engine(std::shared_ptr<ConnectionShare> share);

// Many transfers at once over one pool of connections (retrieve -i): connections are reused
// and, where the server offers HTTP/2, multiplexed; a transfer started here means exactly what
// the same Request means to TransferEngine::perform().
struct MultiOptions {
    std::size_t max_connections = 4; // open at once, in total and to one host
    // Bytes per second across all running transfers (a shared budget: transfers are paused
    // while it is spent); Request::options.limit_rate still caps each one.
    std::optional<std::uint64_t> total_rate;
};

struct MultiDone {
    std::uint64_t id = 0; // as given to start()
    TransferResult result;
};

// Driven from one thread. Sinks are called on that thread, inside run().
class MultiTransferEngine {
  public:
    virtual ~MultiTransferEngine() = default;
    // Adds a transfer; `request` and `sink` must stay alive until run() reports `id` done.
    virtual void start(std::uint64_t id, const Request& request, TransferSink& sink) = 0;
    // Moves the transfers on until at least one has ended, `wait` has passed or a stop was
    // requested (stop.hpp: every transfer then ends as interrupted); returns those that ended.
    virtual std::vector<MultiDone> run(std::chrono::milliseconds wait) = 0;
    // From any thread: the current or next run() returns at once (work for the driver
    // finished elsewhere, on a thread of its own).
    virtual void wake() = 0;
};
std::unique_ptr<MultiTransferEngine> make_multi_engine(const MultiOptions& options);

// "HTTP 404 Not Found: URL" — the sentence for a final status >= 400.
std::string describe_status(int status, std::string_view reason, std::string_view url);

} // namespace nettool::http
