#pragma once
// The option group `get` and `retrieve` share (auth, cookie, header, TLS, proxy and timeout
// options are the same in both), declared once. The styles differ in one letter: in `get`
// -c is the cookie jar (curl's habit); in `retrieve` -c is --continue (wget's), so the jar is
// only the long --cookie-jar there.
#include <CLI/CLI.hpp>
#include <nettool/error.hpp>
#include <nettool/http/transfer.hpp>

namespace nettool::cli {

enum class HttpOptionStyle { get, retrieve };

// The sections of the man pages the shared options are in: nettool-get(1) and
// nettool-retrieve(1) group them differently.
struct HttpSections {
    const char* request;        // -H, -A
    const char* redirects;      // --max-redirs, --no-follow
    const char* authentication; // -u, --auth, --bearer, --netrc, --netrc-file
    const char* cookies;        // -b, -c/--cookie-jar
    const char* connection;     // --timeout, --connect-timeout, --proxy, -4, -6
    const char* tls;            // --cacert, -k
};
HttpSections http_sections(HttpOptionStyle style);

// -u/--user, --auth, --bearer, --netrc, --netrc-file, -b/--cookie, -c/--cookie-jar (get) or
// --cookie-jar (retrieve), -H/--header, -A/--user-agent, --max-redirs, --no-follow,
// --timeout, --connect-timeout, --cacert, -k/--insecure, --proxy, -4/-6.
void add_http_options(CLI::App& app, http::TransferOptions& options, HttpOptionStyle style);

// After parsing, in the action: asks for the password of -u USER (no ':') on the terminal
// (/dev/tty, echo off). Without a terminal the password is empty (a warning says so unless
// quiet). An interrupted prompt returns ErrorKind::interrupted.
Status complete_http_options(http::TransferOptions& options, bool quiet);

// The default User-Agent: "nettool/VERSION".
std::string default_user_agent();

} // namespace nettool::cli
