// nettool serve: the options, the event lines on stderr (text or JSON Lines), one core call.
#include "app.hpp"
#include "common_options.hpp"
#include "help.hpp"
#include "json_lines.hpp"
#include "messages.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <memory>
#include <nettool/serve.hpp>

namespace nettool::cli {
namespace {

// CLI11 sets a flag without a value to this; the default greeting is used then.
constexpr const char* k_greet_default = "\x01";

struct ServeArgs {
    std::string endpoint = "localhost:1024";
    bool udp = false;
    std::string greet;
    bool echo = false;
    std::string send_file;
    std::string exec;
    std::string sh_exec;
    std::vector<Endpoint> targets; // --to
    std::string send_proxy;        // --send-proxy v1|v2
    bool accept_proxy = false;
    bool keep_open = false;
    int backlog = 128;
    bool reuse_port = false;
    int max_conns = 0;
    unsigned workers = 1;
    std::string model = "event";
    std::optional<std::chrono::milliseconds> idle_timeout;
    std::chrono::milliseconds grace{5000};
    AccessRules access;
    bool tls = false;
    std::optional<std::string> cert;
    std::optional<std::string> key;
    std::optional<std::string> client_ca;
    bool self_signed = false;
    bool to_tls = false; // --to-tls and its options
    std::optional<std::string> to_cafile;
    bool to_insecure = false;
    std::optional<std::string> to_servername;
    std::optional<std::string> to_cert;
    std::optional<std::string> to_key;
    OutputOptions output;
};

std::string transport_name(Transport t) {
    switch (t) {
    case Transport::udp:
        return "udp";
    case Transport::unix_stream:
        return "unix";
    default:
        return "tcp";
    }
}

// "127.0.0.1:80", "udp://127.0.0.1:53", "unix:/run/x.sock", as endpoints are written.
std::string shown(Transport t, const SocketAddress& address) {
    if (t == Transport::unix_stream) return "unix:" + address.host();
    return (t == Transport::udp ? "udp://" : "") + address.display();
}

std::string peer_text(const ConnectionInfo& info) {
    if (info.transport != Transport::unix_stream) return shown(info.transport, info.peer);
    return info.peer_pid > 0 ? fmt::format("pid {} on unix:{}", info.peer_pid, info.where)
                             : "unix:" + info.where;
}

// --tls: " (TLSv1.3, client CN=alice)" after the connection line.
std::string tls_text(const ConnectionInfo& info) {
    if (info.tls_protocol.empty()) return {};
    if (info.peer_subject.empty()) return fmt::format(" ({})", info.tls_protocol);
    return fmt::format(" ({}, client {})", info.tls_protocol, info.peer_subject);
}

std::string certificate_text(const std::string& fingerprint, bool self_signed) {
    return fmt::format("TLS certificate{} SHA-256 fingerprint {}",
                       self_signed ? " (self-signed, made at start)" : "", fingerprint);
}

// One human line on stderr, escaped (a Unix peer's path comes from the file system), in one
// write so that lines never interleave.
void emit_line(const std::string& line) {
    const std::string with_newline = escape_for_terminal(line) + "\n";
    std::fwrite(with_newline.data(), 1, with_newline.size(), stderr);
    std::fflush(stderr);
}

class ServeTextObserver final : public ServeObserver {
  public:
    explicit ServeTextObserver(const OutputOptions& output) : m_output(output) {}
    void listening(Transport t, const SocketAddress& local) override {
        if (!m_output.quiet) emit_line("listening on " + shown(t, local));
    }
    void connection(const ConnectionInfo& info) override {
        if (!m_output.quiet) emit_line("connection from " + peer_text(info) + tls_text(info));
    }
    // A self-signed certificate's fingerprint is the only way a client can check it: said
    // unless -q. A loaded one's with -v.
    void tls_certificate(const std::string& fingerprint, bool self_signed) override {
        if (self_signed ? !m_output.quiet : m_output.verbose)
            print_note(certificate_text(fingerprint, self_signed));
    }
    void closed(const ConnectionInfo& info) override {
        if (m_output.verbose) {
            const std::string via =
                info.target.empty() ? "" : " (forwarded to " + info.target.display() + ")";
            emit_line(fmt::format("closed {}{}: {} bytes in, {} bytes out, {:.3f} s",
                                  peer_text(info), via, info.bytes_in, info.bytes_out,
                                  info.seconds));
        }
    }
    void denied(const ConnectionInfo& info) override {
        if (!m_output.quiet)
            emit_line(fmt::format("denied connection from {} (--allow/--deny)", peer_text(info)));
    }
    void error(const Error& error) override { print_warning(error.message); }
    void note(std::string_view message) override {
        if (m_output.verbose) print_note(message);
    }

  private:
    const OutputOptions& m_output;
};

// JSON Lines on stderr: listening, connection, close, denied, warning, note (nettool(1)).
class ServeJsonObserver final : public ServeObserver {
  public:
    void listening(Transport t, const SocketAddress& local) override {
        emit({{"event", "listening"},
              {"transport", transport_name(t)},
              {"local", address_json(local)}});
    }
    void connection(const ConnectionInfo& info) override {
        auto j = peer_json("connection", info);
        if (!info.tls_protocol.empty()) {
            j["tls"] = {{"protocol", info.tls_protocol}, {"cipher", info.tls_cipher}};
            if (!info.peer_subject.empty()) {
                j["tls"]["peer_subject"] = info.peer_subject;
                j["tls"]["peer_issuer"] = info.peer_issuer;
            }
        }
        emit(j);
    }
    void tls_certificate(const std::string& fingerprint, bool self_signed) override {
        emit({{"event", "tls"}, {"fingerprint_sha256", fingerprint}, {"self_signed", self_signed}});
    }
    void closed(const ConnectionInfo& info) override {
        auto j = peer_json("close", info);
        if (!info.target.empty()) j["target"] = address_json(info.target);
        j["bytes_in"] = info.bytes_in;
        j["bytes_out"] = info.bytes_out;
        j["seconds"] = info.seconds;
        emit(j);
    }
    void denied(const ConnectionInfo& info) override { emit(peer_json("denied", info)); }
    // A problem that ends one connection, not the server: a warning (a failure of the server
    // itself is the "error" event, with its exit status).
    void error(const Error& error) override {
        emit({{"event", "warning"}, {"message", error.message}});
    }
    void note(std::string_view message) override {
        emit({{"event", "note"}, {"message", message}});
    }

  private:
    static Json peer_json(const char* event, const ConnectionInfo& info) {
        Json j{{"event", event}, {"transport", transport_name(info.transport)}};
        if (info.transport == Transport::unix_stream) {
            // The listener's own name is what tells Unix connections apart; the peer is
            // usually unnamed, its process id is known.
            j["local"] = {{"path", info.where}};
            j["peer"] = {{"path", info.peer.host()}};
            if (info.peer_pid > 0) j["peer"]["pid"] = info.peer_pid;
        } else {
            j["peer"] = address_json(info.peer);
        }
        return j;
    }
    static void emit(const Json& j) { write_json_line(stderr, j); }
};

CLI::Option* add_cidr_option(CLI::App& app, const std::string& name, std::vector<Cidr>& target,
                             const std::string& what) {
    return app
        .add_option_function<std::vector<std::string>>(
            name,
            [&target](const std::vector<std::string>& values) {
                for (const auto& v : values) {
                    auto parsed = parse_cidr(v);
                    if (!parsed) throw CLI::ValidationError(parsed.error().message);
                    target.push_back(*parsed);
                }
            },
            what)
        ->type_name("CIDR")
        ->allow_extra_args(false)
        ->take_all();
}

// --tls and its options: only together, one source of certificate (nettool-serve(1), TLS).
void check_serve_tls(const ServeArgs& args) {
    const auto usage_error = [](const std::string& text) { throw CLI::ValidationError(text); };
    if (!args.tls) {
        for (const auto& [given, name] : {std::pair{args.cert.has_value(), "--cert"},
                                          {args.key.has_value(), "--key"},
                                          {args.client_ca.has_value(), "--client-ca"},
                                          {args.self_signed, "--tls-self-signed"}}) {
            if (given) usage_error(fmt::format("{} is a TLS option; add --tls", name));
        }
        return;
    }
    if (args.self_signed && (args.cert || args.key)) {
        usage_error("--tls-self-signed makes its own certificate; drop --cert and --key, or "
                    "drop --tls-self-signed");
    }
    if (!args.self_signed && (!args.cert || !args.key)) {
        usage_error(args.cert  ? "--cert needs its private key: add --key FILE"
                    : args.key ? "--key needs its certificate: add --cert FILE"
                               : "serve --tls needs a certificate: add --cert FILE --key FILE, "
                                 "or --tls-self-signed for a throwaway one");
    }
    if (args.udp) usage_error("--tls runs over TCP connections; drop -u");
}

// --to-tls and its options: only together, only with --to; connect's rules for the rest
// (nettool-serve(1), TLS TOWARD THE TARGET).
void check_serve_to_tls(const ServeArgs& args) {
    const auto usage_error = [](const std::string& text) { throw CLI::ValidationError(text); };
    if (!args.to_tls) {
        for (const auto& [given, name] : {std::pair{args.to_cafile.has_value(), "--to-cafile"},
                                          {args.to_insecure, "--to-insecure"},
                                          {args.to_servername.has_value(), "--to-servername"},
                                          {args.to_cert.has_value(), "--to-cert"},
                                          {args.to_key.has_value(), "--to-key"}}) {
            if (given) usage_error(fmt::format("{} is an option of --to-tls; add --to-tls", name));
        }
        return;
    }
    if (args.targets.empty())
        usage_error("--to-tls speaks TLS to a forwarding target; add --to HOST:PORT");
    if (args.to_cert.has_value() != args.to_key.has_value()) {
        usage_error(args.to_cert
                        ? "--to-cert needs the certificate's private key: add --to-key FILE"
                        : "--to-key needs its certificate: add --to-cert FILE");
    }
    if (args.to_insecure && args.to_cafile) {
        usage_error(
            "--to-insecure skips verification, so --to-cafile would not be used; drop one of them");
    }
}

int run_serve(const ServeArgs& args) {
    ServeOptions options;
    // Parsed again here (it was validated at parse time) to build the options.
    options.endpoint = *parse_endpoint(args.endpoint, args.udp ? Transport::udp : Transport::tcp,
                                       PortRule::allow_zero);
    if (!args.greet.empty()) options.mode = ServeMode::greet;
    if (!args.greet.empty() && args.greet != k_greet_default) options.greeting = args.greet;
    if (args.echo) options.mode = ServeMode::echo;
    if (!args.send_file.empty()) options.mode = ServeMode::send_file, options.file = args.send_file;
    if (!args.exec.empty()) options.mode = ServeMode::exec, options.command = args.exec;
    if (!args.sh_exec.empty()) options.mode = ServeMode::sh_exec, options.command = args.sh_exec;
    if (!args.targets.empty()) options.mode = ServeMode::forward, options.targets = args.targets;
    if (!args.send_proxy.empty())
        options.send_proxy = args.send_proxy == "v1" ? ProxyVersion::v1 : ProxyVersion::v2;
    options.accept_proxy = args.accept_proxy;
    options.keep_open = args.keep_open;
    options.backlog = args.backlog;
    options.reuse_port = args.reuse_port;
    if (args.max_conns > 0) options.max_conns = static_cast<std::size_t>(args.max_conns);
    options.workers = args.workers;
    options.model = args.model == "thread" ? ServeModel::thread
                    : args.model == "fork" ? ServeModel::fork
                                           : ServeModel::event;
    options.idle_timeout = args.idle_timeout;
    options.grace = args.grace;
    options.access = args.access;
    if (args.tls) {
        tls::ServerSettings settings;
        settings.cert_file = args.cert;
        settings.key_file = args.key;
        settings.self_signed = args.self_signed;
        settings.client_ca = args.client_ca;
        options.tls = std::move(settings);
    }
    if (args.to_tls) {
        tls::ClientSettings settings; // the host is each target's (core/src/serve.cpp)
        settings.option_prefix = "--to-";
        settings.server_name = args.to_servername;
        settings.ca_file = args.to_cafile;
        settings.insecure = args.to_insecure;
        settings.cert_file = args.to_cert;
        settings.key_file = args.to_key;
        options.to_tls = std::move(settings);
    }
    std::unique_ptr<ServeObserver> observer;
    if (args.output.json)
        observer = std::make_unique<ServeJsonObserver>();
    else
        observer = std::make_unique<ServeTextObserver>(args.output);
    return exit_status(serve(options, *observer));
}

} // namespace

void add_serve(CLI::App& app, Action& action) {
    auto args = std::make_shared<ServeArgs>();
    auto* sub = app.add_subcommand(
        "serve",
        "Accept connections and relay, greet, echo, send a file, run a program or forward.");
    set_help_footer(
        *sub,
        {{"Greet every client on localhost:1024 until Ctrl+C", "nettool serve --greet -k"},
         {"Receive a file on a port the kernel picks", "nettool serve 0 > received.bin"},
         {"Run a command for each client, on every interface",
          "nettool serve -k --sh-exec 'date' '*:9000'"}},
        {"The default endpoint is localhost:1024 (127.0.0.1 and ::1); a bare PORT is loopback "
         "too. Listen on every interface with *:PORT, 0.0.0.0:PORT or [::]:PORT. See "
         "nettool-serve(1)."});
    // The sections of nettool-serve(1).
    constexpr const char* listening = "Listening";
    constexpr const char* modes = "Modes";
    constexpr const char* connections = "Connections";
    constexpr const char* forwarding = "Forwarding";

    sub->add_option("endpoint", args->endpoint,
                    "Where to listen: PORT, HOST:PORT, [IPV6]:PORT, *:PORT, udp://HOST:PORT, "
                    "unix:/PATH, unix:@NAME "
                    "(default localhost:1024; port 0 picks a free port)")
        ->type_name("ENDPOINT")
        ->check([](const std::string& text) -> std::string {
            auto ep = parse_endpoint(text, Transport::tcp, PortRule::allow_zero);
            return ep ? std::string() : ep.error().message;
        });
    sub->add_flag("-u,--udp", args->udp, "Use UDP (datagrams) for an endpoint without a scheme")
        ->group(listening);
    sub->add_flag("-k,--keep-open", args->keep_open,
                  "Keep accepting after the first client (otherwise serve one and exit)")
        ->group(listening);
    sub->add_option("--backlog", args->backlog, "Length of the listen queue (default 128)")
        ->type_name("N")
        ->check(CLI::Range(1, 65535))
        ->group(listening);
    sub->add_flag("--reuse-port", args->reuse_port,
                  "Set SO_REUSEPORT (several servers share the port)")
        ->group(listening);

    // One mode at most (checked in the callback); without one, stdin/stdout are relayed.
    sub->add_flag(std::string("--greet{") + k_greet_default + "}", args->greet,
                  "Send TEXT (default 'Thank you for connecting!' and a newline) and close; the "
                  "text attaches with '=' only: --greet=TEXT")
        ->type_name("[=TEXT]")
        ->group(modes);
    sub->add_flag("--echo", args->echo, "Send back what arrives")->group(modes);
    sub->add_option("--send-file", args->send_file, "Send FILE (zero-copy, sendfile) and close")
        ->type_name("FILE")
        ->group(modes);
    // A blank command names no program: a usage error, never a fallback to relaying stdin.
    const auto not_blank = CLI::Validator(
        [](std::string& command) -> std::string {
            return command.find_first_not_of(" \t\n") == std::string::npos
                       ? "the command is blank; give the program to run"
                       : std::string();
        },
        "");
    sub->add_option("--exec", args->exec,
                    "Run PROGRAM ARGS (split on whitespace, no shell) per connection, its stdin "
                    "and stdout wired to the connection")
        ->type_name("'PROGRAM ARGS'")
        ->check(not_blank)
        ->group(modes);
    sub->add_option("--sh-exec", args->sh_exec,
                    "Run COMMAND with /bin/sh -c per connection, wired like --exec")
        ->type_name("COMMAND")
        ->check(not_blank)
        ->group(modes);

    sub->add_option_function<std::string>(
           "--to",
           [args](const std::string& list) {
               args->targets.clear();
               std::size_t start = 0;
               while (true) {
                   const std::size_t comma = list.find(',', start);
                   const std::string one = list.substr(start, comma - start);
                   auto ep = parse_endpoint(one, Transport::tcp, PortRule::nonzero);
                   if (!ep) throw CLI::ValidationError("--to: " + ep.error().message);
                   args->targets.push_back(*ep);
                   if (comma == std::string::npos) break;
                   start = comma + 1;
               }
           },
           "Forward each connection to the first of these targets that accepts (HOST:PORT or "
           "unix:/PATH, comma-separated, tried in order)")
        ->type_name("ENDPOINT[,ENDPOINT...]")
        ->group(forwarding);
    sub->add_option("--send-proxy", args->send_proxy,
                    "Send a PROXY protocol header (v1: text, v2: binary) with the client's "
                    "address to the target first")
        ->type_name("VERSION")
        ->check(CLI::IsMember({"v1", "v2"}))
        ->group(forwarding);
    sub->add_flag("--accept-proxy", args->accept_proxy,
                  "Expect a PROXY protocol header (v1 or v2) from each client; its address is "
                  "the peer for logs, --allow/--deny and $NETTOOL_PEER_ADDR")
        ->group(connections);

    sub->add_option(
           "--max-conns", args->max_conns,
           "At most N connections at once; further clients wait in the backlog until one closes")
        ->type_name("N")
        ->check([](const std::string& text) -> std::string {
            long long n = 0;
            try {
                n = std::stoll(text);
            } catch (...) {
                n = 0;
            }
            return n >= 1 && n <= 1000000
                       ? std::string()
                       : fmt::format("'{}' is not a number from 1 to 1000000", text);
        })
        ->group(connections);
    sub->add_option("--workers", args->workers,
                    "Run N event loops (threads), each with its own SO_REUSEPORT listener "
                    "(default 1; needs -k and a mode other than the relay)")
        ->type_name("N")
        ->check(CLI::Range(1, 256))
        ->group(connections);
    sub->add_option("--model", args->model,
                    fmt::format("Who serves each connection: event (one event loop for all, the "
                                "default), thread (a thread each) or fork (a process each); "
                                "thread and fork are capped at --max-conns, else {} and {}",
                                k_default_thread_cap, k_default_fork_cap))
        ->type_name("MODEL")
        ->check(CLI::IsMember({"event", "thread", "fork"}))
        ->group(connections);
    add_duration_option(*sub, "--idle-timeout", args->idle_timeout,
                        "Close a connection (UDP: forget a peer) after DURATION without data (0: "
                        "never)")
        ->group(connections);
    add_duration_option(*sub, "--grace", args->grace,
                        "After SIGTERM/SIGINT, let open connections finish for DURATION (default "
                        "5s; 0: end them at once)")
        ->group(connections);
    add_cidr_option(*sub, "--allow", args->access.allow,
                    "Accept only peers in CIDR (repeatable; IPv4 or IPv6)")
        ->group(connections);
    add_cidr_option(*sub, "--deny", args->access.deny,
                    "Refuse peers in CIDR (repeatable; wins over --allow)")
        ->group(connections);
    constexpr const char* tls_section = "TLS";
    sub->add_flag("--tls", args->tls,
                  "Speak TLS with every client (needs --cert and --key, or --tls-self-signed)")
        ->group(tls_section);
    sub->add_option("--cert", args->cert,
                    "The server's certificate (PEM; its chain may follow it in FILE)")
        ->type_name("FILE")
        ->group(tls_section);
    sub->add_option("--key", args->key, "The private key of --cert (PEM, not encrypted)")
        ->type_name("FILE")
        ->group(tls_section);
    sub->add_option("--client-ca", args->client_ca,
                    "Mutual TLS: require a client certificate issued by a CA in FILE (PEM)")
        ->type_name("FILE")
        ->group(tls_section);
    sub->add_flag("--tls-self-signed", args->self_signed,
                  "Make a throwaway key and self-signed certificate at start (its SHA-256 "
                  "fingerprint is printed)")
        ->group(tls_section);
    constexpr const char* to_tls_section = "TLS toward the target";
    sub->add_flag("--to-tls", args->to_tls,
                  "Speak TLS to the --to target, verifying its certificate against the system's "
                  "CAs and the target's host name")
        ->group(to_tls_section);
    sub->add_option("--to-cafile", args->to_cafile,
                    "Trust the CA certificates in FILE (PEM) for the target instead of the "
                    "system's")
        ->type_name("FILE")
        ->group(to_tls_section);
    sub->add_flag("--to-insecure", args->to_insecure,
                  "Do not verify the target's certificate (encrypted, but to anyone)")
        ->group(to_tls_section);
    sub->add_option("--to-servername", args->to_servername,
                    "Send NAME as SNI and expect a certificate for NAME, not for the target's "
                    "host")
        ->type_name("NAME")
        ->group(to_tls_section);
    sub->add_option("--to-cert", args->to_cert,
                    "Present the client certificate in FILE (PEM) to the target")
        ->type_name("FILE")
        ->group(to_tls_section);
    sub->add_option("--to-key", args->to_key, "The private key of --to-cert (PEM, not encrypted)")
        ->type_name("FILE")
        ->group(to_tls_section);
    add_output_options(*sub, args->output, true);

    sub->callback([args, sub, &action] {
        std::vector<std::string> chosen;
        for (const char* mode :
             {"--greet", "--echo", "--send-file", "--exec", "--sh-exec", "--to"}) {
            if (sub->count(mode) > 0) chosen.emplace_back(mode);
        }
        if (chosen.size() > 1) {
            throw CLI::ValidationError(
                fmt::format("{} and {} cannot be used together; choose one mode of --greet, "
                            "--echo, --send-file, --exec, --sh-exec and --to",
                            chosen[0], chosen[1]));
        }
        check_serve_tls(*args);
        check_serve_to_tls(*args);
        if (sub->count("--send-proxy") > 0 && sub->count("--to") == 0) {
            throw CLI::ValidationError("--send-proxy sends a header to a forwarding target; "
                                       "add --to ENDPOINT");
        }
        action = [args] { return run_serve(*args); };
    });
}

} // namespace nettool::cli
