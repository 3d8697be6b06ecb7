#pragma once
// A scripted TransferEngine for unit tests of get/retrieve logic: no network. Each perform()
// consumes the next scripted Step and plays it to the sink the way the libcurl engine does
// (intermediate heads, then on_response, then the body in chunks, with the status >= 400 rule),
// and records the Request it was given.
#include <deque>
#include <fmt/format.h>
#include <nettool/http/transfer.hpp>
#include <string>
#include <vector>

namespace nettool::test {

class FakeTransferEngine : public http::TransferEngine {
  public:
    struct Step {
        std::vector<http::ResponseHead> intermediate; // redirects followed before the final one
        http::ResponseHead head;                      // the final response
        std::vector<std::string> chunks;              // the body, chunk by chunk
        // When set: the transfer fails after the head and `fail_after_chunks` chunks.
        std::optional<http::TransferError> failure;
        std::size_t fail_after_chunks = 0;
        bool fail_before_head = false; // a connect-level failure: no head at all
    };

    // A 200 response with this body in chunks of `chunk` bytes.
    static Step ok(std::string body, std::size_t chunk = 4096, int status = 200,
                   std::string reason = "OK") {
        Step step;
        step.head.status = status;
        step.head.reason = std::move(reason);
        step.head.protocol = "HTTP/1.1";
        step.head.content_length = body.size();
        step.head.headers.push_back({"Content-Length", std::to_string(body.size())});
        step.head.raw = fmt::format("HTTP/1.1 {} {}\r\nContent-Length: {}\r\n\r\n",
                                    step.head.status, step.head.reason, body.size());
        for (std::size_t i = 0; i < body.size(); i += chunk)
            step.chunks.push_back(body.substr(i, chunk));
        return step;
    }

    // A failure before any response (refused, resolve ...).
    static Step failing(ErrorKind kind, http::FailureCause cause, std::string message) {
        Step step;
        step.fail_before_head = true;
        http::TransferError failure;
        failure.error = Error{kind, std::move(message)};
        failure.cause = cause;
        step.failure = failure;
        return step;
    }

    void script(Step step) { m_steps.push_back(std::move(step)); }
    const std::vector<http::Request>& requests() const { return m_requests; }

    http::TransferResult perform(const http::Request& request, http::TransferSink& sink) override {
        m_requests.push_back(request);
        if (m_steps.empty()) {
            http::TransferError none;
            none.error = Error{ErrorKind::generic, "fake engine: no scripted response left"};
            return tl::unexpected(none);
        }
        Step step = std::move(m_steps.front());
        m_steps.pop_front();
        if (step.fail_before_head) return tl::unexpected(*step.failure);

        http::TransferOutcome outcome;
        for (const auto& head : step.intermediate)
            sink.on_intermediate(head);
        outcome.redirects = static_cast<long>(step.intermediate.size());
        if (step.head.url.empty()) step.head.url = request.url.text;
        if (auto st = sink.on_response(step.head); !st) return sink_failure(st.error(), 0);
        const bool withheld = step.head.status >= 400 && !request.options.ignore_status;
        std::size_t index = 0;
        for (const auto& chunk : step.chunks) {
            if (step.failure && index == step.fail_after_chunks) break;
            ++index;
            if (withheld || request.head_only) continue;
            if (auto st = sink.on_body(chunk); !st)
                return sink_failure(st.error(), outcome.body_bytes);
            outcome.body_bytes += chunk.size();
            sink.on_progress(outcome.body_bytes, step.head.content_length);
        }
        if (step.failure) {
            auto failure = *step.failure;
            failure.body_bytes = outcome.body_bytes;
            return tl::unexpected(failure);
        }
        if (withheld) {
            http::TransferError failure;
            failure.error =
                Error{ErrorKind::server,
                      http::describe_status(step.head.status, step.head.reason, step.head.url)};
            failure.cause = http::FailureCause::http_status;
            failure.http_status = step.head.status;
            if (auto ra = step.head.find("Retry-After")) failure.retry_after = std::string(*ra);
            return tl::unexpected(failure);
        }
        outcome.head = std::move(step.head);
        return outcome;
    }

    // Tunnels: each open_tunnel() takes the next scripted result (a connected descriptor, say
    // one end of a socketpair, or a failure) and records the request.
    void add_tunnel(http::TunnelResult result) { m_tunnels.push_back(std::move(result)); }
    const std::vector<http::TunnelRequest>& tunnel_requests() const { return m_tunnel_requests; }

    http::TunnelResult open_tunnel(const http::TunnelRequest& request) override {
        m_tunnel_requests.push_back(request);
        if (m_tunnels.empty()) {
            return tl::unexpected(http::TunnelFailure{
                Error{ErrorKind::generic, "fake engine: no scripted tunnel left"}, false});
        }
        http::TunnelResult result = std::move(m_tunnels.front());
        m_tunnels.pop_front();
        return result;
    }

  private:
    static tl::unexpected<http::TransferError> sink_failure(Error error, std::uint64_t bytes) {
        http::TransferError failure;
        failure.error = std::move(error);
        failure.cause = http::FailureCause::sink;
        failure.body_bytes = bytes;
        return tl::unexpected(failure);
    }

    std::deque<Step> m_steps;
    std::vector<http::Request> m_requests;
    std::deque<http::TunnelResult> m_tunnels;
    std::vector<http::TunnelRequest> m_tunnel_requests;
};

} // namespace nettool::test
