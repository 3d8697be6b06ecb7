#pragma once
// CURLcode -> TransferError (ErrorKind for the exit code, FailureCause for the retry policy,
// and one sentence naming the URL).
#include <curl/curl.h>
#include <nettool/http/transfer.hpp>
#include <string>
#include <string_view>

namespace nettool::http {

struct FailureContext {
    std::string url;          // the URL being fetched when it failed (after redirects)
    std::string error_buffer; // CURLOPT_ERRORBUFFER's text
    int os_errno = 0;         // CURLINFO_OS_ERRNO
    long max_redirects = 0;
    bool credentials_offered = false;
    std::optional<std::string> refused_redirect; // Location of a redirect libcurl refused
    std::string refused_redirect_from;           // the URL that sent it
    std::optional<std::chrono::milliseconds> timeout;
};

TransferError map_curl_error(CURLcode code, const FailureContext& context);

} // namespace nettool::http
