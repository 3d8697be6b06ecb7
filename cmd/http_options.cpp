#include "http_options.hpp"

#include "common_options.hpp"
#include "messages.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/http/url.hpp>
#include <nettool/stop.hpp>
#include <nettool/unique_fd.hpp>
#include <termios.h>
#include <unistd.h>

#ifndef NETTOOL_VERSION
#define NETTOOL_VERSION "0"
#endif

namespace nettool::cli {
namespace {

// Restores the terminal's echo on every path out of the prompt (Ctrl+C included).
class EchoOff {
  public:
    explicit EchoOff(int fd) : m_fd(fd) {
        if (::tcgetattr(fd, &m_saved) != 0) return;
        termios quiet = m_saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        m_active = ::tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    ~EchoOff() {
        if (m_active) ::tcsetattr(m_fd, TCSAFLUSH, &m_saved);
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;

  private:
    int m_fd;
    termios m_saved{};
    bool m_active = false;
};

Result<std::string> prompt_password(int tty, const std::string& user) {
    // Written to the terminal directly, not through print_note(): escaped here.
    const std::string prompt = fmt::format("Password for '{}': ", escape_for_terminal(user));
    std::string password;
    {
        // Echo goes off before the prompt appears, so nothing typed after it is ever shown.
        EchoOff echo_off(tty);
        if (::write(tty, prompt.data(), prompt.size()) < 0)
            return fail(ErrorKind::file_io, "cannot write to the terminal");
        char c = 0;
        for (;;) {
            const ssize_t n = ::read(tty, &c, 1);
            if (n < 0 && errno == EINTR && !stop_requested()) continue;
            if (n < 0 || stop_requested()) {
                password.assign(password.size(), '\0');
                return fail(ErrorKind::interrupted, "the password prompt was interrupted");
            }
            if (n == 0 || c == '\n' || c == '\r') break;
            password += c;
        }
    }
    [[maybe_unused]] auto ignored = ::write(tty, "\n", 1);
    return password;
}

} // namespace

std::string default_user_agent() {
    return fmt::format("nettool/{}", NETTOOL_VERSION);
}

HttpSections http_sections(HttpOptionStyle style) {
    if (style == HttpOptionStyle::get)
        return {"Request", "Redirects", "Authentication", "Cookies", "Connection", "Connection"};
    const char* request = "Request, authentication and cookies";
    return {request, "Transfer", request, request, "Transfer", "TLS"};
}

void add_http_options(CLI::App& app, http::TransferOptions& o, HttpOptionStyle style) {
    o.user_agent = default_user_agent();
    const HttpSections sections = http_sections(style);

    app.add_option_function<std::vector<std::string>>(
           "-H,--header",
           [&o](const std::vector<std::string>& headers) {
               for (const auto& header : headers) {
                   const auto colon = header.find(':');
                   if (colon == std::string::npos || colon == 0) {
                       throw CLI::ValidationError(
                           "--header",
                           fmt::format("'{}' is not a header; write it as 'Name: value'", header));
                   }
                   o.headers.push_back(header);
               }
           },
           "Add a request header 'Name: value' (repeatable); 'Name:' removes one nettool would "
           "send")
        ->type_name("'NAME: VALUE'")
        // One value per -H: CLI11 would otherwise go on taking words, the URL among them.
        ->allow_extra_args(false)
        ->group(sections.request);
    app.add_option("-A,--user-agent", o.user_agent,
                   "The User-Agent header (default nettool/VERSION)")
        ->type_name("TEXT")
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                return text.empty() ? "the value is empty; to send no User-Agent, write "
                                      "-H 'User-Agent:'"
                                    : std::string();
            },
            ""))
        ->group(sections.request);

    auto* max_redirs =
        app.add_option("--max-redirs", o.max_redirects, "Follow at most N redirects (default 10)")
            ->type_name("N")
            ->check(CLI::Range(0L, 1000L))
            ->group(sections.redirects);
    app.add_flag_callback(
           "--no-follow", [&o] { o.follow_redirects = false; },
           "Do not follow redirects: the redirect response itself is the result")
        ->excludes(max_redirs)
        ->group(sections.redirects);

    auto* user =
        app.add_option_function<std::string>(
               "-u,--user",
               [&o](const std::string& text) {
                   const auto colon = text.find(':');
                   if (colon == 0)
                       throw CLI::ValidationError("--user", "the user name before ':' is empty");
                   o.user = text.substr(0, colon);
                   if (colon != std::string::npos) o.password = text.substr(colon + 1);
               },
               "Credentials USER[:PASSWORD]; without ':' the password is asked on the terminal")
            ->type_name("USER[:PASS]")
            ->group(sections.authentication);
    auto* auth =
        app.add_option_function<std::string>(
               "--auth",
               [&o](const std::string& text) {
                   o.auth = text == "digest" ? http::AuthScheme::digest
                            : text == "any"  ? http::AuthScheme::any
                                             : http::AuthScheme::basic;
               },
               "Authentication scheme for --user/--netrc: basic (default), digest, or any (the "
               "safest the server offers)")
            ->type_name("SCHEME")
            ->check(CLI::IsMember({"basic", "digest", "any"}))
            ->group(sections.authentication);
    app.add_option_function<std::string>(
           "--bearer", [&o](const std::string& token) { o.bearer = token; },
           "Send 'Authorization: Bearer TOKEN' (OAuth 2.0)")
        ->type_name("TOKEN")
        ->excludes(user)
        ->excludes(auth)
        ->group(sections.authentication);
    app.add_flag("--netrc", o.netrc, "Take credentials for the host from ~/.netrc")
        ->group(sections.authentication);
    app.add_option_function<std::string>(
           "--netrc-file", [&o](const std::string& path) { o.netrc_file = path; },
           "Take credentials for the host from FILE (netrc format)")
        ->type_name("FILE")
        ->group(sections.authentication);

    app.add_option_function<std::string>(
           "-b,--cookie",
           [&o](const std::string& text) {
               // curl's rule: text with '=' is cookies, otherwise a file to read them from.
               if (text.find('=') != std::string::npos)
                   o.cookie = text;
               else
                   o.cookie_file = text;
           },
           "Send cookies: 'k=v; k2=v2', or FILE to read them from (Netscape format)")
        ->type_name("DATA|FILE")
        ->group(sections.cookies);
    app.add_option_function<std::string>(
           style == HttpOptionStyle::get ? "-c,--cookie-jar" : "--cookie-jar",
           [&o](const std::string& path) { o.cookie_jar = path; },
           "Load cookies from FILE when it exists and save all cookies to it afterwards (Netscape "
           "format)")
        ->type_name("FILE")
        ->group(sections.cookies);

    add_duration_option(app, "--timeout", o.timeout,
                        "Give up when the whole transfer takes longer (0: no limit)")
        ->group(sections.connection);
    add_duration_option(app, "--connect-timeout", o.connect_timeout,
                        "Give up when connecting takes longer (0: the system's limit)")
        ->group(sections.connection);
    app.add_option_function<std::string>(
           "--cacert", [&o](const std::string& path) { o.cacert = path; },
           "Verify the server's certificate against the CA certificates in FILE (PEM)")
        ->type_name("FILE")
        ->group(sections.tls);
    app.add_flag("-k,--insecure", o.insecure, "Do not verify the server's certificate (dangerous)")
        ->group(sections.tls);
    app.add_option_function<std::string>(
           "--proxy",
           [&o](const std::string& url) {
               // Checked at parse time, so a typo is a usage error (exit 2) rather than a failed
               // transfer. '' means no proxy at all, not even from *_proxy (curl's habit).
               if (!url.empty()) {
                   if (auto checked = http::check_proxy_url(url); !checked)
                       throw_parse_failure(checked.error());
               }
               o.proxy = url;
           },
           "Use this proxy (http://, https://, socks5h:// ...; '': none); without it "
           "http_proxy, https_proxy, all_proxy and no_proxy apply")
        ->type_name("URL")
        ->group(sections.connection);
    auto* v4 = app.add_flag_callback(
                      "-4", [&o] { o.ip_family = http::IpFamily::v4; }, "Use IPv4 addresses only")
                   ->group(sections.connection);
    app.add_flag_callback(
           "-6", [&o] { o.ip_family = http::IpFamily::v6; }, "Use IPv6 addresses only")
        ->excludes(v4)
        ->group(sections.connection);
}

Status complete_http_options(http::TransferOptions& options, bool quiet) {
    if (!options.user || options.password) return {};
    UniqueFd tty(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!tty) {
        if (!quiet) {
            print_warning(
                fmt::format("no terminal to ask the password of '{}' on; sending an empty password "
                            "(write --user '{}:' to say so, or --user USER:PASSWORD)",
                            *options.user, *options.user));
        }
        options.password = std::string();
        return {};
    }
    auto password = prompt_password(tty.get(), *options.user);
    if (!password) return tl::unexpected(password.error());
    options.password = std::move(*password);
    return {};
}

} // namespace nettool::cli
