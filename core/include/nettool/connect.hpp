#pragma once
// nettool connect: the client (nettool-connect(1)). Resolves, connects happy-eyeballs style
// (optionally retrying until a service is up), then relays between the connection and a pair
// of descriptors (stdin/stdout) with half-close in each direction (core/src/relay.hpp), or
// sends a fixed text.
#include <chrono>
#include <cstdint>
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <nettool/happy_eyeballs.hpp>
#include <nettool/http/transfer.hpp>
#include <nettool/resolve.hpp>
#include <nettool/tls.hpp>
#include <optional>
#include <string>
#include <vector>

namespace nettool {

struct ConnectOptions {
    Endpoint endpoint;
    Family family = Family::any;
    std::optional<SourceAddress> source;
    std::chrono::milliseconds timeout{10'000}; // per connection attempt (all addresses)
    // TCP/unix: no data either way for this long ends the connection (a network failure).
    // UDP: also how long to wait for replies after the input ended (default 1 s).
    std::optional<std::chrono::milliseconds> idle_timeout;
    // Retry refused/unreachable/timed-out connections until this much time has passed.
    std::optional<std::chrono::milliseconds> wait;
    std::optional<std::string> send_text; // sent instead of reading input_fd
    std::optional<std::uint64_t> max_bytes;
    bool crlf = false;
    std::optional<std::string> hexdump_path;
    int input_fd = 0;
    // When the peer's data ends (its FIN), output_fd is replaced by /dev/null (dup2, after
    // its flags are restored), so that a reader downstream sees end-of-file at once while the
    // input still flows to the peer.
    int output_fd = 1;
    // Connect through this proxy (nettool-connect(1), PROXIES), chosen by the caller with
    // choose_proxy() (so NO_PROXY is already applied): socks5://, socks5h:// or http://, with
    // USER:PASS@ when it needs them. `tunnels` opens it: an engine from
    // http::make_transfer_engine(), made only for a proxied connection, so that a direct one
    // never loads the HTTP library. The proxy resolves the name; `source` must be empty, and
    // `family` only chooses the proxy's address. `timeout` covers the whole set-up.
    std::optional<std::string> proxy;
    http::TransferEngine* tunnels = nullptr;
    // --tls: TLS over the TCP connection (nettool-connect(1), TLS); `tls->host` is the host to
    // verify (the target's, also through a proxy: TLS runs end to end over the tunnel). The
    // handshake must finish within `timeout`. Not with UDP or Unix.
    std::optional<tls::ClientSettings> tls;
};

// How long a UDP client waits for replies after its input ended, without --idle-timeout.
inline constexpr std::chrono::milliseconds k_udp_reply_wait{1000};

class ConnectObserver {
  public:
    virtual ~ConnectObserver() = default;
    // The connection is up; `peer` is getpeername() formatted ("127.0.0.1:80", "unix:/x"), or
    // through a proxy the target and the proxy ("localhost:80 through the proxy
    // socks5h://127.0.0.1:1080 (127.0.0.1:1080)").
    virtual void connected(const std::string& peer) { (void)peer; }
    // --wait: an attempt failed and another follows after `delay`; `left` is the time left.
    virtual void retrying(const Error& why, std::chrono::milliseconds delay,
                          std::chrono::milliseconds left) {
        (void)why, (void)delay, (void)left;
    }
    // --tls: the handshake is done (the server's certificate verified unless --insecure).
    virtual void tls_established(const tls::PeerInfo& peer) { (void)peer; }
};

// Resolves and connects as `options` say (including --wait's retries); no data moves.
Result<Connected> open_connection(const ConnectOptions& options, ConnectObserver& observer);

// The whole of `nettool connect` without -z.
Status connect(const ConnectOptions& options, ConnectObserver& observer);

} // namespace nettool
