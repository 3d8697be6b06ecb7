// nettool connect: options -> ConnectOptions/ScanOptions -> nettool::connect or scan_ports.
#include "app.hpp"
#include "common_options.hpp"
#include "help.hpp"
#include "json_lines.hpp"
#include "messages.hpp"

#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <nettool/connect.hpp>
#include <nettool/http/transfer.hpp>
#include <nettool/http/url.hpp>
#include <nettool/port_scan.hpp>
#include <nettool/proxy.hpp>
#include <nettool/stop.hpp>
#include <optional>
#include <string>
#include <vector>

namespace nettool::cli {
namespace {

using std::chrono::milliseconds;

struct ConnectCli {
    std::vector<std::string> operands;
    bool udp = false;
    bool ipv4 = false;
    bool ipv6 = false;
    bool zero = false;
    std::optional<std::string> source;
    std::optional<milliseconds> timeout = milliseconds{10'000}; // empty: off (-w 0)
    std::optional<milliseconds> idle_timeout;
    std::optional<milliseconds> wait;
    std::optional<std::string> send;
    std::optional<std::uint64_t> max_bytes;
    bool crlf = false;
    std::optional<std::string> hexdump;
    std::optional<std::string> proxy;
    std::optional<std::string> noproxy;
    bool tls = false;
    std::optional<std::string> cafile;
    bool insecure = false;
    std::optional<std::string> servername;
    std::optional<std::string> cert;
    std::optional<std::string> key;
    OutputOptions output;
};

[[noreturn]] void usage(const std::string& message) {
    throw CLI::ValidationError(message);
}

template <class T> T value_or_usage(Result<T> result) {
    if (!result) usage(result.error().message);
    return std::move(*result);
}

class TextConnectObserver final : public ConnectObserver {
  public:
    explicit TextConnectObserver(const OutputOptions& output) : m_output(output) {}
    void connected(const std::string& peer) override {
        if (m_output.verbose) print_note(fmt::format("connected to {}", peer));
    }
    void retrying(const Error& why, milliseconds delay, milliseconds left) override {
        if (m_output.verbose) {
            print_note(fmt::format("{}; retrying in {} ms ({} ms left)", why.message, delay.count(),
                                   left.count()));
        }
    }
    void tls_established(const tls::PeerInfo& peer) override {
        if (!m_output.verbose) return;
        print_note(fmt::format("{} {}, {}", peer.protocol, peer.cipher,
                               peer.subject.empty()
                                   ? std::string("certificate not verified (--insecure)")
                                   : fmt::format("certificate of {} verified (issuer {})",
                                                 peer.subject, peer.issuer)));
    }

  private:
    const OutputOptions& m_output;
};

class ScanPrinter final : public ScanObserver {
  public:
    explicit ScanPrinter(const OutputOptions& output) : m_output(output) {}
    void port_done(const PortState& s) override {
        if (m_output.quiet) return;
        std::string line;
        if (m_output.json) {
            Json j = {{"event", "port"},
                      {"host", s.host},
                      {"peer", {{"address", s.address}, {"port", s.port}}},
                      {"open", s.open}};
            if (!s.open) j["reason"] = s.error;
            line = json_line(j);
        } else {
            line = fmt::format("{} {} {}\n", s.host, s.port, s.open ? "open" : "closed");
        }
        // Line by line, so a script reading the pipe sees each port as it is known.
        if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
            std::fflush(stdout) != 0) {
            m_failed = true;
        }
    }
    bool failed() const { return m_failed; }

  private:
    const OutputOptions& m_output;
    bool m_failed = false;
};

Family family_of(const ConnectCli& cli) {
    return cli.ipv4 ? Family::ipv4 : cli.ipv6 ? Family::ipv6 : Family::any;
}

// The two forms: ENDPOINT, or HOST PORT (netcat); with -z the port may be a range LOW-HIGH.
struct Target {
    Endpoint endpoint;
    std::optional<PortRange> range; // -z only
};

Target parse_target(const ConnectCli& cli) {
    const Transport transport = cli.udp ? Transport::udp : Transport::tcp;
    if (cli.operands.empty())
        usage("connect needs ENDPOINT or HOST PORT, e.g. 'nettool connect localhost 1024'");
    if (cli.operands.size() > 2) {
        usage(fmt::format("too many operands ({}); write ENDPOINT or HOST PORT",
                          cli.operands.size()));
    }
    Target target;
    if (cli.operands.size() == 1) {
        const std::string& text = cli.operands[0];
        if (cli.zero && !text.empty() && text.find(':') == std::string::npos &&
            text.find_first_not_of("0123456789-") != std::string::npos) {
            usage(fmt::format("-z needs a port: write '{} PORT' or '{} LOW-HIGH'", text, text));
        }
        if (text.find('-') != std::string::npos &&
            text.find_first_not_of("0123456789-") == std::string::npos) {
            usage(fmt::format("'{}' is a port range; write HOST LOW-HIGH with -z", text));
        }
        target.endpoint = value_or_usage(parse_endpoint(text, transport));
        if (cli.zero) target.range = PortRange{target.endpoint.port, target.endpoint.port};
    } else {
        std::string host = cli.operands[0];
        const std::string& port = cli.operands[1];
        if (host.find("://") != std::string::npos || host.starts_with("unix:")) {
            usage(fmt::format("'{}' is an endpoint; with a separate PORT give a plain HOST", host));
        }
        if (host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        if (host.empty()) usage("the host is empty; write HOST PORT");
        const bool is_range = port.find('-') != std::string::npos;
        if (is_range && !cli.zero) {
            usage(fmt::format("port range '{}' needs -z (scan); to connect, give one port", port));
        }
        const std::string first = is_range ? port.substr(0, port.find('-')) : port;
        target.endpoint = value_or_usage(
            parse_endpoint(format_host_port(host, value_or_usage(parse_port(first))), transport));
        if (cli.zero) target.range = value_or_usage(parse_port_range(port));
    }
    if (cli.zero && target.endpoint.transport != Transport::tcp) {
        usage("-z tests TCP ports only; drop -u, udp:// or unix:");
    }
    return target;
}

// A proxy URL connect can use, checked where it came from (exit 2 otherwise).
void check_connect_proxy(const std::string& url, std::string_view source) {
    if (auto scheme = check_connect_proxy_scheme(url, source); !scheme)
        usage(scheme.error().message);
    if (auto checked = http::check_proxy_url(url); !checked) {
        usage(source == "--proxy" ? checked.error().message
                                  : fmt::format("{}: {}", source, checked.error().message));
    }
}

// The proxy this connection goes through, if any (nettool-connect(1), PROXIES).
std::optional<std::string> proxy_for(const ConnectCli& cli, const Target& target,
                                     const std::optional<SourceAddress>& source) {
    const bool asked = cli.proxy && !cli.proxy->empty();
    if (cli.zero || target.endpoint.transport != Transport::tcp) {
        // Scans and UDP/unix connections go direct; ALL_PROXY is not for them.
        if (!asked) return std::nullopt;
        usage(cli.zero ? "-z tests which ports accept connections from this host; it does not "
                         "go through --proxy (drop one of them)"
                       : "--proxy carries TCP connections only; drop -u, udp:// or unix:");
    }
    ProxyChoice choice = choose_proxy(target.endpoint.host, cli.proxy, cli.noproxy,
                                      ProxyEnvironment::from_process());
    if (!choice.proxy) return std::nullopt;
    if (choice.source != "--proxy") check_connect_proxy(*choice.proxy, choice.source);
    if (source) {
        usage(fmt::format("--source cannot be combined with a proxy ({}): the proxy makes the "
                          "connection to the target; drop --source, or connect directly with "
                          "--proxy ''",
                          choice.source));
    }
    return choice.proxy;
}

// --tls and its options: only together, only over TCP (nettool-connect(1), TLS).
std::optional<tls::ClientSettings> tls_settings(const ConnectCli& cli, const Target& target) {
    if (!cli.tls) {
        for (const auto& [given, name] : {std::pair{cli.cafile.has_value(), "--cafile"},
                                          {cli.insecure, "--insecure"},
                                          {cli.servername.has_value(), "--servername"},
                                          {cli.cert.has_value(), "--cert"},
                                          {cli.key.has_value(), "--key"}}) {
            if (given) usage(fmt::format("{} is a TLS option; add --tls", name));
        }
        return std::nullopt;
    }
    if (cli.zero) usage("-z only tests whether ports accept connections; drop --tls");
    if (target.endpoint.transport != Transport::tcp) {
        usage(target.endpoint.transport == Transport::udp
                  ? "--tls runs over TCP; drop -u or udp:// (DTLS is not supported)"
                  : "--tls runs over TCP connections; give HOST:PORT, not a Unix socket");
    }
    if (cli.cert.has_value() != cli.key.has_value()) {
        usage(cli.cert ? "--cert needs the certificate's private key: add --key FILE"
                       : "--key needs its certificate: add --cert FILE");
    }
    if (cli.insecure && cli.cafile)
        usage("--insecure skips verification, so --cafile would not be used; drop one of them");
    tls::ClientSettings settings;
    settings.host = target.endpoint.host;
    settings.server_name = cli.servername;
    settings.ca_file = cli.cafile;
    settings.insecure = cli.insecure;
    settings.cert_file = cli.cert;
    settings.key_file = cli.key;
    return settings;
}

} // namespace

void add_connect(CLI::App& app, Action& action) {
    auto cli = std::make_shared<ConnectCli>();
    auto* sub =
        app.add_subcommand("connect", "Connect to a server and relay stdin/stdout (the client).");
    sub->add_option(
           "target", cli->operands,
           "ENDPOINT (PORT, HOST:PORT, [IPV6]:PORT, tcp://, udp://, unix:/PATH, unix:@NAME), "
           "or HOST PORT")
        ->option_text("ENDPOINT | HOST PORT")
        // Any count, so that a wrong count gets connect's own sentence (parse_target).
        ->expected(0, CLI::detail::expected_max_vector_size);

    // The sections of nettool-connect(1).
    constexpr const char* connecting = "Connecting";
    constexpr const char* data = "Data";
    auto* udp = sub->add_flag("-u,--udp", cli->udp, "Use UDP: each read of stdin is one datagram")
                    ->group(connecting);
    auto* v4 = sub->add_flag("-4", cli->ipv4, "Use IPv4 addresses only")->group(connecting);
    sub->add_flag("-6", cli->ipv6, "Use IPv6 addresses only")->excludes(v4)->group(connecting);
    sub->add_option("--source", cli->source,
                    "Bind the local side to ADDR[:PORT] (numeric; ':PORT' for a port only)")
        ->type_name("ADDR[:PORT]")
        ->group(connecting);
    add_duration_option(*sub, "-w,--timeout", cli->timeout,
                        "Give up connecting after DURATION (default 10s; 0: the system's limit)")
        ->group(connecting);
    add_duration_option(*sub, "--wait", cli->wait,
                        "Retry refused/unreachable/timed-out connects until DURATION has passed "
                        "(with -z: until every port is open; 0: try once)")
        ->group(connecting);
    auto* idle =
        add_duration_option(*sub, "--idle-timeout", cli->idle_timeout,
                            "Close after DURATION without data either way (exit 4); with -u, "
                            "also how long to await replies after stdin ends (default 1s; 0: "
                            "never)")
            ->group(data);
    auto* send = sub->add_option("--send", cli->send,
                                 "Send TEXT instead of stdin, then shut down the write side")
                     ->type_name("TEXT")
                     ->group(data);
    auto* max_bytes = add_size_option(*sub, "--max-bytes", cli->max_bytes,
                                      "Read at most SIZE bytes from the "
                                      "connection, then close")
                          ->group(data);
    auto* crlf = sub->add_flag("-C,--crlf", cli->crlf, "Send LF line endings as CRLF")->group(data);
    auto* hexdump =
        sub->add_option("--hexdump", cli->hexdump, "Write a hex dump of both directions to FILE")
            ->type_name("FILE")
            ->group(data);
    sub->add_option_function<std::string>(
           "--proxy",
           [cli](const std::string& url) {
               // Checked at parse time, so a typo is a usage error (exit 2); '' means no proxy
               // at all, not even ALL_PROXY (curl's habit).
               if (!url.empty()) check_connect_proxy(url, "--proxy");
               cli->proxy = url;
           },
           "Connect through a proxy: socks5://[USER:PASS@]HOST:PORT (the proxy resolves the "
           "name) or http://[USER:PASS@]HOST:PORT (CONNECT); '': none, not even ALL_PROXY")
        ->type_name("URL")
        ->group("Proxies");
    sub->add_option("--noproxy", cli->noproxy,
                    "Hosts reached directly, not through the proxy (comma-separated, like "
                    "NO_PROXY, which it replaces; '*': every host)")
        ->type_name("LIST")
        ->group("Proxies");
    constexpr const char* tls_group = "TLS";
    sub->add_flag("--tls", cli->tls,
                  "Speak TLS over the connection, verifying the server's certificate against "
                  "the system's CAs and the host name")
        ->group(tls_group);
    sub->add_option("--cafile", cli->cafile,
                    "Trust the CA certificates in FILE (PEM) instead of the system's")
        ->type_name("FILE")
        ->group(tls_group);
    sub->add_flag("--insecure", cli->insecure,
                  "Do not verify the server's certificate (encrypted, but to anyone)")
        ->group(tls_group);
    sub->add_option("--servername", cli->servername,
                    "Send NAME as SNI and expect a certificate for NAME, not for the host")
        ->type_name("NAME")
        ->group(tls_group);
    sub->add_option("--cert", cli->cert, "Present the client certificate in FILE (PEM)")
        ->type_name("FILE")
        ->group(tls_group);
    sub->add_option("--key", cli->key, "The private key of --cert (PEM, not encrypted)")
        ->type_name("FILE")
        ->group(tls_group);
    auto* zero =
        sub->add_flag("-z,--zero", cli->zero,
                      "Only report whether TCP ports accept connections (a port range is allowed)")
            ->group("Port scanning");
    for (auto* opt : {udp, idle, send, max_bytes, crlf, hexdump})
        zero->excludes(opt);
    add_output_options(*sub, cli->output, true);
    set_help_footer(
        *sub,
        {{"Talk to the essay's server", "nettool connect localhost 1024"},
         {"Wait up to 30 s for a database, then start the app",
          "nettool connect -z -q --wait 30s db 5432 && exec my-app"},
         {"Which ports of a range accept connections", "nettool connect -z localhost 20-25"}},
        {"Exit status: 0 success (-z: every port open), 1 some port not open, 2 usage, 3 local "
         "file, 4 network, 5 TLS, 6 proxy auth, 7 proxy protocol. See nettool-connect(1)."});

    sub->callback([cli, idle, &action]() {
        if (cli->output.json && !cli->zero) usage("--json is for -z (port scans) only");
        const Target target = parse_target(*cli);
        std::optional<SourceAddress> source;
        if (cli->source) source = value_or_usage(parse_source_address(*cli->source));
        const milliseconds timeout = cli->timeout.value_or(k_no_limit);
        std::optional<tls::ClientSettings> tls = tls_settings(*cli, target);
        std::optional<std::string> proxy = proxy_for(*cli, target, source);
        if (cli->zero) {
            ScanOptions scan;
            scan.host = target.endpoint.host;
            scan.ports = *target.range;
            scan.family = family_of(*cli);
            scan.source = source;
            scan.timeout = timeout;
            scan.wait = cli->wait;
            action = [cli, scan]() {
                ScanPrinter printer(cli->output);
                auto summary = scan_ports(scan, printer);
                if (!summary) return report(summary.error());
                if (printer.failed()) {
                    return report(Error{ErrorKind::file_io,
                                        "cannot write the scan results to standard output"});
                }
                if (stop_signal() != 0) return exit_status(Status{});
                return summary->not_open == 0 ? 0 : exit_code(ErrorKind::generic);
            };
            return;
        }
        ConnectOptions options;
        options.endpoint = target.endpoint;
        options.family = family_of(*cli);
        options.source = source;
        options.timeout = timeout;
        options.idle_timeout = cli->idle_timeout;
        // --idle-timeout 0 is off: with -u, replies are then awaited until interrupted (core's
        // default of 1 s applies only when the option is absent).
        if (target.endpoint.transport == Transport::udp && idle->count() > 0 && !cli->idle_timeout)
            options.idle_timeout = k_no_limit;
        options.wait = cli->wait;
        options.send_text = cli->send;
        options.max_bytes = cli->max_bytes;
        options.crlf = cli->crlf;
        options.hexdump_path = cli->hexdump;
        options.proxy = std::move(proxy);
        options.tls = std::move(tls);
        action = [cli, options]() mutable {
            TextConnectObserver observer(cli->output);
            // The HTTP library only for a proxied connection (start-up: a direct one never
            // loads it).
            std::unique_ptr<http::TransferEngine> tunnels;
            if (options.proxy) {
                tunnels = http::make_transfer_engine();
                options.tunnels = tunnels.get();
            }
            return exit_status(connect(options, observer));
        };
    });
}

} // namespace nettool::cli
