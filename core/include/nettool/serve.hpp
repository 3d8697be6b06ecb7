#pragma once
// `nettool serve`: the essay's server, grown up (nettool-serve(1)). One non-blocking epoll
// loop per worker serves its connections (stream: core/src/serve_stream.cpp, datagrams:
// core/src/serve_udp.cpp), or, with --model thread|fork, accepts them and gives each a
// thread or a process of its own (core/src/serve_model.cpp); what a connection gets is the
// mode.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nettool/cidr.hpp>
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <nettool/proxy_header.hpp>
#include <nettool/socket_address.hpp>
#include <nettool/tls.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool {

enum class ServeMode { relay, greet, echo, send_file, exec, sh_exec, forward };

// Who serves an accepted stream connection: the server's event loop, a thread of its own
// (socketserver's ThreadingMixIn) or a forked process of its own (ForkingMixIn).
enum class ServeModel { event, thread, fork };

// --model thread|fork without --max-conns: at most this many threads or processes at once.
inline constexpr std::size_t k_default_thread_cap = 256;
inline constexpr std::size_t k_default_fork_cap = 64;

struct ServeOptions {
    Endpoint endpoint;
    ServeMode mode = ServeMode::relay;
    std::string greeting = "Thank you for connecting!\n";
    std::string file;    // send_file
    std::string command; // exec (split on whitespace) or sh_exec (/bin/sh -c)
    // forward: the targets, tried in order for each connection (tcp or unix).
    std::vector<Endpoint> targets;
    // forward: a PROXY protocol header sent to the target first (before TLS, on the TCP
    // connection, as HAProxy does).
    std::optional<ProxyVersion> send_proxy;
    // forward, --to-tls: TLS toward every target (TCP only), verified for each target's host
    // as written unless `server_name` or `insecure` say otherwise (`host` is set per target).
    // The files are read before anything listens.
    std::optional<tls::ClientSettings> to_tls;
    // Every connection starts with a PROXY protocol header (v1 or v2); its address is the peer.
    bool accept_proxy = false;
    bool keep_open = false;
    int backlog = 128;
    bool reuse_port = false;
    std::optional<std::size_t> max_conns; // over all workers
    ServeModel model = ServeModel::event; // stream connections only
    // Event loops (threads), each with its own SO_REUSEPORT listening sockets (Unix: one
    // shared socket). More than one needs keep_open and a mode other than the relay.
    unsigned workers = 1;
    std::optional<std::chrono::milliseconds> idle_timeout;
    std::chrono::milliseconds grace{5000}; // after SIGTERM/SIGINT
    AccessRules access;
    // --tls: every stream connection speaks TLS (nettool-serve(1), TLS); the certificate and
    // key (or a self-signed pair) are loaded before anything listens. Not for UDP.
    std::optional<tls::ServerSettings> tls;
    int input_fd = 0;  // relay: what is sent to the peer
    int output_fd = 1; // relay: where the peer's bytes go
};

// What happened to one connection (or one UDP peer).
struct ConnectionInfo {
    Transport transport = Transport::tcp;
    SocketAddress peer;   // empty for an unnamed Unix peer
    std::string where;    // the Unix listener's name ("/run/x.sock", "@name") for Unix peers
    int peer_pid = 0;     // Unix peers: SO_PEERCRED
    SocketAddress target; // forward: the target that took the connection
    // --tls, once the handshake is done: "TLSv1.3", the cipher, the client certificate's
    // verified subject and issuer (--client-ca; empty without one).
    std::string tls_protocol;
    std::string tls_cipher;
    std::string peer_subject;
    std::string peer_issuer;
    std::uint64_t bytes_in = 0;  // from the peer
    std::uint64_t bytes_out = 0; // to the peer
    double seconds = 0;
};

// cmd/ implements this (text lines or JSON Lines on stderr). Called from the workers' threads,
// one call at a time (serve serialises them when there are several workers or a thread per
// connection). With --model fork each child process calls its own copy: every line must
// reach stderr in one write().
class ServeObserver {
  public:
    virtual ~ServeObserver() = default;
    virtual void listening(Transport transport, const SocketAddress& local) = 0;
    virtual void connection(const ConnectionInfo& info) = 0;
    virtual void closed(const ConnectionInfo& info) = 0;
    virtual void denied(const ConnectionInfo& info) = 0;
    // A problem that ends one connection (or is worth saying) but not the server.
    virtual void error(const Error& error) = 0;
    // Progress of a graceful stop and such (shown with -v).
    virtual void note(std::string_view message) = 0;
    // --tls: the server's certificate, once, after the listening events: its SHA-256
    // fingerprint ("AB:CD:..."), and whether it was made at start (--tls-self-signed).
    virtual void tls_certificate(const std::string& fingerprint, bool self_signed) {
        (void)fingerprint, (void)self_signed;
    }
};

// Runs until done: without keep_open after the first client, otherwise until a stop request
// (nettool/stop.hpp) and the grace period. Errors before serving (bad file, bind failure) are
// returned; a stop request is success (cmd/ turns SIGINT into 130).
Status serve(const ServeOptions& options, ServeObserver& observer);

} // namespace nettool
