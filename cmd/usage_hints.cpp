#include "usage_hints.hpp"

#include "common_options.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <initializer_list>
#include <numeric>

namespace nettool::cli {
namespace {

bool is_one_of_names(std::string_view name, std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_digit_word(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(),
                                        [](unsigned char c) { return std::isdigit(c) != 0; });
}

// What a habit from curl, wget, nc or ncat means in `sub`, or nothing. Only options that exist
// are pointed at.
std::optional<std::string> habit_hint(CLI::App& sub, std::string_view name) {
    const std::string s = sub.get_name();
    const auto has = [&sub](const char* option) {
        return sub.get_option_no_throw(option) != nullptr;
    };
    const bool http = s == "get" || s == "retrieve";
    const bool socket = s == "serve" || s == "connect";

    if (name == "--version") return "nettool's version is 'nettool --version'";
    if (is_one_of_names(name, {"-o", "--output"}) && s == "get")
        return "to save to a file, write 'nettool retrieve URL FILE' (curl's -o FILE)";
    if (name == "--output-document" && s == "get")
        return "to save to a file, write 'nettool retrieve URL FILE' (wget's -O FILE)";
    if (is_one_of_names(name, {"-o", "--output"}) && s == "retrieve")
        return "give FILE after the URL: 'nettool retrieve URL FILE' (curl's -o FILE)";
    if (name == "--output-document" && s == "retrieve")
        return "give FILE after the URL: 'nettool retrieve URL FILE' (wget's -O FILE)";
    if (name == "-O" && s == "get") {
        return "to save to a file, write 'nettool retrieve URL FILE' (wget's -O FILE), or "
               "'nettool retrieve -O URL' for the server's name (curl's -O)";
    }
    if (is_one_of_names(name, {"-L", "--location"}) && http)
        return "redirects are followed by default (--max-redirs N limits them, --no-follow "
               "turns them off)";
    if (is_one_of_names(name, {"-s", "--silent"}) && has("--quiet"))
        return "-q (--quiet) prints nothing but errors";
    if (is_one_of_names(name, {"-S", "--show-error"}) && has("--quiet"))
        return "errors are always shown, also with -q (--quiet)";
    if (is_one_of_names(name, {"-f", "--fail"}) && s == "get")
        return "get fails on an HTTP error by default (exit 8, nothing on stdout); "
               "--ignore-status writes the error's body";
    if (is_one_of_names(name, {"-w", "--write-out"}) && s == "get")
        return "curl's --write-out is not supported; -I or -D FILE show the status and headers";
    if (name == "-x" && http) return "--proxy URL chooses the proxy (curl's -x)";
    if (is_one_of_names(name, {"-m", "--max-time"}) && http)
        return "--timeout DURATION limits the whole transfer (curl's -m)";
    if (name == "-T" && s == "retrieve") return "--timeout DURATION (wget's -T)";
    if (name == "--compressed" && http)
        return "compressed responses are asked for and decoded by default";
    if (name == "--no-check-certificate" && http)
        return "-k (--insecure) turns certificate checks off (wget's --no-check-certificate)";
    if (is_one_of_names(name, {"-t", "--tries"}) && s == "retrieve")
        return "--retry N retries transient failures (wget's --tries)";
    if (is_one_of_names(name, {"-P", "--directory-prefix"}) && s == "retrieve")
        return "-O --output-dir DIR saves into DIR under the server's name (wget's -P)";
    if (name == "-C" && s == "get")
        return "to resume a download, write 'nettool retrieve -c URL FILE' (curl's -C -)";
    if (is_one_of_names(name, {"-e", "--referer"}) && http)
        return "-H 'Referer: URL' sends a Referer (curl's -e)";
    if (is_one_of_names(name, {"-r", "--range"}) && http)
        return "-H 'Range: bytes=START-END' asks for part of the body (curl's -r)";

    if (name == "-x" && s == "connect")
        return "--proxy socks5://HOST:PORT or --proxy http://HOST:PORT chooses the proxy (nc -x; "
               "no -X: the scheme says which)";
    if (name == "-X" && s == "connect")
        return "the --proxy URL's scheme chooses the protocol: socks5:// or http:// (nc -X)";
    if (is_one_of_names(name, {"-l", "--listen"}) && s == "connect")
        return "to listen, use 'nettool serve [ENDPOINT]' (nc -l)";
    if (is_one_of_names(name, {"-l", "--listen"}) && s == "serve")
        return "serve always listens; drop -l (nc -l -p PORT is 'nettool serve PORT')";
    if (is_one_of_names(name, {"-p", "--source-port"}) && s == "serve")
        return "give the port as the endpoint: 'nettool serve PORT' (nc -l -p PORT)";
    if (is_one_of_names(name, {"-p", "--source-port"}) && s == "connect" && has("--source"))
        return "--source :PORT chooses the local port (nc -p PORT)";
    if (is_one_of_names(name, {"-e", "--exec"}) && s == "serve" && has("--exec"))
        return "--exec 'PROGRAM ARGS' runs a program for each connection (nc -e PROG)";
    if (is_one_of_names(name, {"-c", "--sh-exec"}) && s == "serve" && has("--sh-exec"))
        return "--sh-exec COMMAND runs a command with /bin/sh for each connection (ncat -c)";
    if (is_one_of_names(name, {"-e", "--exec", "--sh-exec"}) && s == "connect")
        return "connect relays stdin and stdout; 'nettool serve --exec' runs a program for "
               "each connection (nc -e)";
    if (name == "-k" && s == "connect")
        return "connect makes one connection; 'nettool serve -k' keeps accepting (ncat -k)";
    if (name == "-N" && s == "connect")
        return "connect shuts down its sending side at the end of stdin already (nc -N)";
    if (is_one_of_names(name, {"-U", "--unixsock"}) && socket)
        return "write a Unix socket as the endpoint unix:/PATH (nc -U)";
    if (is_one_of_names(name,
                        {"--ssl", "--ssl-cert", "--ssl-key", "--ssl-verify", "--ssl-trustfile"}) &&
        socket && has("--tls")) {
        if (name == "--ssl-cert") return "--tls --cert FILE gives the certificate";
        if (name == "--ssl-key") return "--tls --key FILE gives its key";
        if (name == "--ssl-trustfile") {
            return s == "connect" ? "--tls --cafile FILE trusts its CAs"
                                  : "--tls --client-ca FILE requires client certificates from "
                                    "its CAs";
        }
        if (name == "--ssl-verify") return "--tls verifies the certificate by default";
        return "--tls turns TLS on";
    }
    return std::nullopt;
}

// Every name of `app`'s options, "--long" and "-s" alike.
std::vector<std::string> all_option_names(CLI::App& app) {
    std::vector<std::string> names;
    for (const CLI::Option* option : options_with_groups(app)) {
        for (const auto& name : option->get_lnames())
            names.push_back("--" + name);
        for (const auto& name : option->get_snames())
            names.push_back("-" + name);
    }
    return names;
}

std::string joined_with_or(const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
        text += names[i];
    }
    return text;
}

// "-i (--include)" for a short option that has a long name.
std::string with_long_name(CLI::App& app, const std::string& short_name) {
    const CLI::Option* option = app.get_option_no_throw(short_name);
    if (option == nullptr || option->get_lnames().empty()) return short_name;
    return fmt::format("{} (--{})", short_name, option->get_lnames().front());
}

// The sentence for `typed` (as the user wrote it: "--timout", "-w", "-keep-open"), which
// `name` ("-w" of "-qw") is not an option of `sub`.
std::string unknown_option(CLI::App& sub, const std::string& typed, const std::string& name) {
    const std::string where = fmt::format("'nettool {}'", sub.get_name());
    const std::string shown = typed == name || typed.starts_with(name + "=")
                                  ? name
                                  : fmt::format("{} (in {})", name, typed);
    const std::string head = fmt::format("{} is not an option of {}", shown, where);
    const auto names = all_option_names(sub);
    std::vector<std::string> longs;
    std::copy_if(names.begin(), names.end(), std::back_inserter(longs),
                 [](const std::string& n) { return n.starts_with("--"); });
    // -keep-open: a long option written with one dash (read as the cluster -k -e ...).
    if (!typed.starts_with("--") && typed.size() > 2) {
        const std::string long_name = "-" + typed.substr(0, typed.find('='));
        if (std::find(longs.begin(), longs.end(), long_name) != longs.end())
            return fmt::format("{} is not an option of {}; did you mean {}?", typed, where,
                               long_name);
    }
    if (auto hint = habit_hint(sub, name)) return fmt::format("{}; {}", head, *hint);
    if (name.starts_with("--")) {
        if (auto close = close_names(name.substr(2),
                                     [&longs] {
                                         std::vector<std::string> bare;
                                         for (const auto& n : longs)
                                             bare.push_back(n.substr(2));
                                         return bare;
                                     }());
            !close.empty()) {
            for (auto& n : close)
                n = "--" + n;
            return fmt::format("{}; did you mean {}?", head, joined_with_or(close));
        }
    } else if (name.size() == 2 && std::isalpha(static_cast<unsigned char>(name[1])) != 0) {
        // -c for -C: the same letter in the other case.
        const char other = std::isupper(static_cast<unsigned char>(name[1])) != 0
                               ? static_cast<char>(std::tolower(name[1]))
                               : static_cast<char>(std::toupper(name[1]));
        const std::string swapped = std::string("-") + other;
        if (sub.get_option_no_throw(swapped) != nullptr)
            return fmt::format("{}; did you mean {}?", head, with_long_name(sub, swapped));
    }
    return fmt::format("{}; see 'nettool {} --help'", head, sub.get_name());
}

std::string unknown_subcommand(CLI::App& app, const std::string& word) {
    std::vector<std::string> names;
    for (const CLI::App* sub :
         app.get_subcommands([](CLI::App* s) { return !s->get_name().empty(); })) {
        names.push_back(sub->get_name());
    }
    names.push_back("help");
    if (auto close = close_names(word, names); !close.empty())
        return fmt::format("'{}' is not a subcommand; did you mean {}?", word,
                           joined_with_or(close));
    names.pop_back();
    return fmt::format("'{}' is not a subcommand; the subcommands are {} (see 'nettool help')",
                       word, joined_with_or(names));
}

// An option before the subcommand: nettool's own, or one of the subcommand's put too early.
std::string unknown_top_option(CLI::App& app, const std::string& name, int argc,
                               const char* const* argv) {
    for (int i = 1; i < argc; ++i) {
        for (CLI::App* sub :
             app.get_subcommands([](CLI::App* s) { return !s->get_name().empty(); })) {
            if (sub->get_name() == argv[i] && sub->get_option_no_throw(name) != nullptr) {
                return fmt::format("{} is an option of 'nettool {}'; write it after the "
                                   "subcommand: nettool {} {} ...",
                                   name, sub->get_name(), sub->get_name(), name);
            }
        }
    }
    if (name.starts_with("--")) {
        std::vector<std::string> longs;
        for (const auto& each : all_option_names(app)) {
            if (each.starts_with("--")) longs.push_back(each.substr(2));
        }
        if (auto close = close_names(name.substr(2), longs); !close.empty()) {
            for (auto& each : close)
                each = "--" + each;
            return fmt::format("{} is not an option of nettool; did you mean {}?", name,
                               joined_with_or(close));
        }
    }
    return fmt::format("{} is not an option of nettool; options go after the subcommand (see "
                       "'nettool --help')",
                       name);
}

} // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Three rows of the dynamic programme: two back for the swap of neighbours.
    std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
    std::iota(previous.begin(), previous.end(), 0);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                current[j] = std::min(current[j], before[j - 2] + 1);
        }
        before.swap(previous);
        previous.swap(current);
    }
    return previous[b.size()];
}

std::vector<std::string> close_names(std::string_view typed,
                                     const std::vector<std::string>& names) {
    if (typed.empty()) return {};
    // A misspelling: one edit in a short name, two in a longer one, three in a long one.
    const std::size_t allowed = typed.size() <= 4 ? 1 : typed.size() <= 8 ? 2 : 3;
    std::vector<std::pair<std::size_t, std::string>> scored;
    for (const auto& name : names) {
        const std::size_t distance = edit_distance(typed, name);
        if (distance <= allowed)
            scored.emplace_back(distance, name);
        else if (typed.size() >= 3 && name.starts_with(typed))
            scored.emplace_back(allowed + 1, name); // an abbreviation, after the misspellings
    }
    std::stable_sort(scored.begin(), scored.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    std::vector<std::string> result;
    for (const auto& [distance, name] : scored) {
        if (distance != scored.front().first || result.size() == 3) break;
        if (std::find(result.begin(), result.end(), name) == result.end()) result.push_back(name);
    }
    return result;
}

ScannedArguments scan_arguments(CLI::App& app, int argc, const char* const* argv) {
    ScannedArguments scanned;
    CLI::App* current = &app;
    const auto note_problem = [&scanned](std::string sentence) {
        if (!scanned.problem) scanned.problem = std::move(sentence);
    };
    bool only_operands = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto operand = [&] {
            if (scanned.subcommand == nullptr) {
                note_problem(unknown_subcommand(app, arg));
                return;
            }
            scanned.operands.push_back(arg);
        };
        if (only_operands) {
            operand();
            continue;
        }
        if (arg == "--") {
            only_operands = true;
            continue;
        }
        if (scanned.subcommand == nullptr) {
            auto named = app.get_subcommands(
                [&arg](CLI::App* sub) { return !sub->get_name().empty() && sub->check_name(arg); });
            if (!named.empty()) {
                scanned.subcommand = current = named.front();
                continue;
            }
        }
        const auto unknown = [&](const std::string& name) {
            if (scanned.subcommand == nullptr)
                note_problem(unknown_top_option(app, name, argc, argv));
            else
                note_problem(unknown_option(*current, arg, name));
        };
        const auto given = [&](const CLI::Option* option, const std::string& name) {
            if (option == current->get_help_ptr() || option == current->get_help_all_ptr())
                scanned.help = true;
            if (scanned.subcommand == nullptr) return;
            const std::string first =
                option->get_lnames().empty() ? name : "--" + option->get_lnames().front();
            scanned.options.push_back(first);
            if (first == "--json") scanned.json = true;
        };
        const auto takes_value = [](const CLI::Option* option) {
            return option->get_type_size_max() > 0 && option->get_items_expected_max() > 0;
        };

        std::string name, rest;
        if (CLI::detail::split_long(arg, name, rest)) {
            const std::string full = "--" + name;
            const CLI::Option* option = current->get_option_no_throw(full);
            if (option == nullptr) {
                unknown(full);
                continue;
            }
            given(option, full);
            if (takes_value(option) && arg.find('=') == std::string::npos) ++i; // its value
            continue;
        }
        if (CLI::detail::split_short(arg, name, rest)) {
            if (std::isdigit(static_cast<unsigned char>(name[0])) != 0 &&
                current->get_option_no_throw("-" + name) == nullptr) {
                operand(); // -5: a number, as CLI11 reads it
                continue;
            }
            // A cluster: flags until one takes a value, which takes the rest or the next word.
            for (std::size_t k = 1; k < arg.size(); ++k) {
                const std::string short_name = std::string("-") + arg[k];
                const CLI::Option* option = current->get_option_no_throw(short_name);
                if (option == nullptr) {
                    unknown(short_name);
                    break;
                }
                given(option, short_name);
                if (takes_value(option)) {
                    if (k + 1 == arg.size()) ++i;
                    break;
                }
                if (k + 1 == arg.size() && i + 1 < argc) {
                    const std::string next = argv[i + 1];
                    if (!next.starts_with("-"))
                        scanned.flag_then_operand.emplace_back(short_name, next);
                }
            }
            continue;
        }
        operand();
    }
    return scanned;
}

std::optional<std::string> misread_habit(const ScannedArguments& scanned) {
    if (scanned.subcommand == nullptr) return std::nullopt;
    const std::string sub = scanned.subcommand->get_name();
    // nc's -q SECS: -q is --quiet here, and the number became an extra operand.
    for (const auto& [flag, next] : scanned.flag_then_operand) {
        if (flag != "-q" || !is_digit_word(next) || scanned.operands.size() < 2) continue;
        if (sub == "connect") {
            return fmt::format(
                "-q is --quiet and takes no value, so '{}' was read as an operand; nc's -q SECS "
                "is not needed: connect shuts down its sending side at the end of stdin and "
                "reads the reply until the server closes (--idle-timeout DURATION bounds the "
                "wait)",
                next);
        }
        return fmt::format("-q is --quiet and takes no value, so '{}' was read as an operand; "
                           "drop the number (nc's -q SECS)",
                           next);
    }
    // wget's -O FILE: retrieve's -O is --remote-name, a flag, so FILE and the URL are two
    // operands next to it.
    if (sub == "retrieve" && scanned.operands.size() >= 2 &&
        std::find(scanned.options.begin(), scanned.options.end(), "--remote-name") !=
            scanned.options.end()) {
        return "-O takes no value in retrieve: it is --remote-name (the server's name for the "
               "file) and excludes FILE; to choose the name, write 'nettool retrieve URL FILE' "
               "(wget's -O FILE)";
    }
    return std::nullopt;
}

} // namespace nettool::cli
