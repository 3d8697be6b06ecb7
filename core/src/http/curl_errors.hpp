#pragma once
// CURLcode -> TransferError (ErrorKind for the exit code, FailureCause for the retry policy,
// and one sentence naming the URL). Every code of libcurl 7.88 is mapped here, once; where a
// code covers both a local and a remote cause, the facts of the transfer (an errno from the
// socket, a redirect being followed, headers still arriving) decide, never libcurl's text.
#include <curl/curl.h>
#include <nettool/http/transfer.hpp>
#include <string>
#include <string_view>

namespace nettool::http {

struct FailureContext {
    std::string url;          // the URL being fetched when it failed (after redirects)
    std::string scheme;       // of the URL the user asked for ("http", "ftp" ...)
    std::string error_buffer; // CURLOPT_ERRORBUFFER's text, shown (never interpreted)
    int os_errno = 0;         // CURLINFO_OS_ERRNO: the socket's errno, 0 when none
    long max_redirects = 0;
    bool credentials_offered = false;
    // libcurl was following a redirect (a complete 3xx with a Location, no final response):
    // then a bad URL or a refused scheme is the server's doing, not the user's.
    bool following_redirect = false;
    std::string redirect_location; // that Location
    std::string redirect_from;     // the URL that sent it
    bool in_headers = false;       // no final response had been delivered yet
};

TransferError map_curl_error(CURLcode code, const FailureContext& context);

} // namespace nettool::http
