#pragma once
// `nettool get`: urlopen from a shell. Streams one URL's body to a descriptor (stdout) as it
// arrives, never holding it whole; optional headers first (-i), headers only (-I), or the
// headers into a file (-D). Transient failures are retried only while nothing has been
// written to the output yet, since bytes already written cannot be taken back.
#include <chrono>
#include <nettool/error.hpp>
#include <nettool/http/transfer.hpp>
#include <optional>
#include <string>
#include <unistd.h>

namespace nettool {

struct GetRequest {
    http::Request request;        // url, options, head_only (-I)
    bool include_headers = false; // -i: the response heads (redirects included) before the body
    std::optional<std::string> dump_header_path; // -D FILE: the heads into FILE ("-": output)
    int retries = 0;                             // --retry N
    int output_fd = STDOUT_FILENO;
};

class GetObserver {
  public:
    virtual ~GetObserver() = default;
    virtual void on_redirect(const http::ResponseHead& /*head*/) {}
    virtual void on_response(const http::ResponseHead& /*head*/) {}
    // A transient failure; the next attempt (number retry, 1-based) starts after `delay`.
    virtual void on_retry(int /*retry*/, int /*max_retries*/, std::chrono::milliseconds /*delay*/,
                          const Error& /*error*/) {}
    // The reader of the output went away (EPIPE): the transfer stopped, which is not an error.
    virtual void on_output_closed() {}
    virtual void on_done(const http::TransferOutcome& /*outcome*/) {}
};

Status get(const GetRequest& request, http::TransferEngine& engine, GetObserver& observer);

} // namespace nettool
