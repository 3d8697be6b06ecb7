// nettool ports: who listens where. A table on stdout (or one JSON object per socket), read
// from the kernel's socket table by nettool::listening_sockets().
#include "app.hpp"
#include "common_options.hpp"
#include "help.hpp"
#include "json_lines.hpp"
#include "messages.hpp"

#include <algorithm>
#include <cstdio>
#include <fmt/format.h>
#include <nettool/ports.hpp>

namespace nettool::cli {
namespace {

struct PortsArgs {
    std::vector<std::string> filters;
    bool tcp = false;
    bool udp = false;
    bool unix_sockets = false;
    OutputOptions output;
};

const char* ports_transport_name(Transport t) {
    return t == Transport::udp ? "udp" : t == Transport::unix_stream ? "unix" : "tcp";
}

Json listener_json(const ListeningSocket& s) {
    Json j{{"event", "listening"},
           {"transport", ports_transport_name(s.transport)},
           {"local", address_json(s.local)}};
    if (!s.owners.empty()) {
        j["pid"] = s.owners.front().pid;
        j["program"] = s.owners.front().program;
    }
    if (s.owners.size() > 1) {
        j["holders"] = Json::array();
        for (const PortOwner& o : s.owners)
            j["holders"].push_back({{"pid", o.pid}, {"program", o.program}});
    }
    return j;
}

// The table: PROTO, ADDRESS, PORT, PID, PROGRAM within 80 columns. An address longer than
// the others leave gets a line of its own and the rest of its row goes on the next line (df's
// way with long names), so nothing is cut.
constexpr std::size_t k_table_width = 80;
constexpr std::size_t k_gap = 2;

struct PortsRow {
    std::string proto, address, port, pid, program; // escaped
};

std::string pad(const std::string& text, std::size_t width, bool right = false) {
    const std::size_t have = terminal_columns(text);
    if (have >= width) return text;
    const std::string fill(width - have, ' ');
    return right ? fill + text : text + fill;
}

std::vector<PortsRow> table_rows(const std::vector<ListeningSocket>& sockets, bool every_holder) {
    std::vector<PortsRow> rows;
    for (const auto& s : sockets) {
        PortsRow row;
        row.proto = ports_transport_name(s.transport);
        if (s.transport == Transport::unix_stream) {
            const std::string name = s.local.host();
            row.address = name.empty() ? "(unnamed)" : escape_for_terminal(name);
            row.port = "-";
        } else {
            row.address = s.local.host();
            row.port = std::to_string(s.local.port());
        }
        if (s.owners.empty()) {
            row.pid = "-";
        } else {
            row.pid = std::to_string(s.owners.front().pid);
            row.program = escape_for_terminal(s.owners.front().program);
            if (!every_holder && s.owners.size() > 1)
                row.program += fmt::format(" +{}", s.owners.size() - 1);
        }
        rows.push_back(row);
        // -v: every process that holds the socket, on rows of their own.
        for (std::size_t i = 1; every_holder && i < s.owners.size(); ++i) {
            rows.push_back({"", "", "", std::to_string(s.owners[i].pid),
                            escape_for_terminal(s.owners[i].program)});
        }
    }
    return rows;
}

void print_table(const std::vector<PortsRow>& rows) {
    const PortsRow title{"PROTO", "ADDRESS", "PORT", "PID", "PROGRAM"};
    std::size_t proto = terminal_columns(title.proto), port = terminal_columns(title.port);
    std::size_t pid = terminal_columns(title.pid), program = terminal_columns(title.program);
    for (const auto& r : rows) {
        proto = std::max(proto, terminal_columns(r.proto));
        port = std::max(port, terminal_columns(r.port));
        pid = std::max(pid, terminal_columns(r.pid));
        program = std::max(program, terminal_columns(r.program));
    }
    // The address column: as wide as the longest address that fits what the others leave.
    const std::size_t others = proto + port + pid + program + 4 * k_gap;
    const std::size_t room = others < k_table_width ? k_table_width - others : 0;
    std::size_t address = terminal_columns(title.address);
    for (const auto& r : rows) {
        if (const std::size_t width = terminal_columns(r.address); width <= room)
            address = std::max(address, width);
    }
    const std::string gap(k_gap, ' ');
    std::string out;
    const auto line = [&](const PortsRow& r) {
        std::string text = pad(r.proto, proto) + gap;
        if (terminal_columns(r.address) > address) {
            out += text + r.address + "\n";
            text = std::string(proto + k_gap + address, ' ');
        } else {
            text += pad(r.address, address);
        }
        text += gap + pad(r.port, port, true) + gap + pad(r.pid, pid, true) + gap + r.program;
        text.erase(text.find_last_not_of(' ') + 1);
        out += text + "\n";
    };
    line(title);
    for (const auto& r : rows)
        line(r);
    std::fwrite(out.data(), 1, out.size(), stdout);
}

// "22", "22 or udp://[::1]:53", "22, 80 or 443".
std::string joined(const std::vector<std::string>& words) {
    std::string text;
    for (std::size_t i = 0; i < words.size(); ++i)
        text += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
    return text;
}

int run_ports(const PortsArgs& args) {
    std::vector<PortsFilter> filters;
    for (const auto& text : args.filters) {
        auto filter = parse_ports_filter(text);
        if (!filter) return report(filter.error());
        filters.push_back(std::move(*filter));
    }
    // --tcp, --udp, --unix pick kinds; none of them: every kind.
    const bool any_kind = !args.tcp && !args.udp && !args.unix_sockets;
    const PortsQuery query{any_kind || args.tcp, any_kind || args.udp,
                           any_kind || args.unix_sockets};
    auto sockets = listening_sockets(query);
    if (!sockets) return report(sockets.error());

    std::vector<ListeningSocket> shown;
    std::vector<bool> matched(filters.size(), false);
    for (auto& s : *sockets) {
        bool keep = filters.empty();
        for (std::size_t i = 0; i < filters.size(); ++i) {
            if (matches(filters[i], s)) keep = matched[i] = true;
        }
        if (keep) shown.push_back(std::move(s));
    }
    if (args.output.json) {
        for (const auto& s : shown)
            write_json_line(stdout, listener_json(s));
    } else if (!args.output.quiet && (!shown.empty() || filters.empty())) {
        print_table(table_rows(shown, args.output.verbose));
    }
    std::fflush(stdout);

    std::vector<std::string> unmatched;
    for (std::size_t i = 0; i < filters.size(); ++i) {
        if (matched[i]) continue;
        const std::string& text = filters[i].text;
        const bool bare_port = text.find_first_not_of("0123456789") == std::string::npos;
        unmatched.push_back(bare_port ? "port " + text : text);
    }
    if (!unmatched.empty()) {
        return report(Error{
            ErrorKind::generic,
            fmt::format("nothing listens on {}{}", joined(unmatched),
                        any_kind ? "" : " among the kinds chosen with --tcp, --udp or --unix")});
    }
    return exit_status({});
}

} // namespace

void add_ports(CLI::App& app, Action& action) {
    auto args = std::make_shared<PortsArgs>();
    auto* sub = app.add_subcommand(
        "ports", "List listening sockets (TCP, UDP, Unix) and the processes that hold them");
    sub->add_option("filter", args->filters,
                    "Only sockets on PORT (any address) or at ENDPOINT (HOST:PORT, tcp://, "
                    "udp://, unix:PATH)")
        ->type_name("PORT|ENDPOINT");
    // The sections of nettool-ports(1).
    constexpr const char* kinds = "Kinds";
    sub->add_flag("-t,--tcp", args->tcp, "TCP sockets (with --udp/--unix: those kinds only)")
        ->group(kinds);
    sub->add_flag("-u,--udp", args->udp, "UDP sockets")->group(kinds);
    sub->add_flag("-x,--unix", args->unix_sockets, "Unix sockets")->group(kinds);
    add_output_options(*sub, args->output, true);
    set_help_footer(*sub,
                    {{"Who listens where", "nettool ports"},
                     {"Is anything on port 8080 (exit 1 if not)?", "nettool ports -q 8080"},
                     {"Unix sockets as JSON", "nettool ports --unix --json"}},
                    {"Exit status 1 when a PORT or ENDPOINT matches no socket. See "
                     "nettool-ports(1)."});
    sub->callback([args, &action] { action = [args] { return run_ports(*args); }; });
}

} // namespace nettool::cli
