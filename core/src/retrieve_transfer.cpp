#include "retrieve_transfer.hpp"

#include <fmt/format.h>
#include <nettool/stop.hpp>

namespace nettool {
namespace {

// How often one download may start over because the sink asked for it (the resource changed,
// or a -O name turned out to have a .part to continue) before it gives up.
constexpr int k_max_fresh_starts = 3;

Error interrupted() {
    return Error{ErrorKind::interrupted, "interrupted"};
}

double seconds_since(std::chrono::steady_clock::time_point started) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

} // namespace

RetrieveTransfer::RetrieveTransfer(const RetrieveOptions& options, RetrieveObserver& observer)
    : m_options(options), m_observer(observer), m_sink(options, observer),
      m_started(std::chrono::steady_clock::now()) {
    m_request.url = options.url;
    m_request.options = options.transfer;
    // The bytes as sent: a range over a decoded body would splice two different streams.
    m_request.options.decode_content = false;
}

Status RetrieveTransfer::prepare() {
    auto prepared = m_sink.prepare();
    if (!prepared) {
        (void)m_sink.settle(true);
        m_sink.abandon();
        m_result = tl::unexpected(prepared.error());
    }
    return prepared;
}

const http::Request& RetrieveTransfer::next_request() {
    m_sink.before_request();
    m_request.resume_from = m_sink.offset();
    m_request.if_range = m_request.resume_from > 0 ? m_sink.validator() : std::nullopt;
    m_request.if_modified_since = m_sink.local_time();
    return m_request;
}

RetrieveTransfer::Next RetrieveTransfer::finish(Result<RetrieveResult> result) {
    if (result) {
        result->seconds = seconds_since(m_started);
        m_observer.on_end(true);
        m_result = std::move(result);
        return {};
    }
    give_up(std::move(result.error()));
    return {};
}

void RetrieveTransfer::give_up(Error error) {
    m_observer.on_end(false);
    (void)m_sink.settle(true); // blocks reserved past the end of a .part go back
    m_sink.keep_part();
    m_sink.abandon();
    m_result = tl::unexpected(std::move(error));
}

RetrieveTransfer::Next RetrieveTransfer::conclude(http::TransferResult outcome) {
    const std::string& shown = m_options.url.shown;
    // Every byte received reaches the file before anything looks at its size; a write that
    // failed behind the transfer fails it (a full disk is not worth a retry).
    if (auto settled = m_sink.settle(!outcome); !settled) {
        http::TransferError write_failure;
        write_failure.error = settled.error();
        write_failure.cause = http::FailureCause::local_io;
        outcome = tl::unexpected(std::move(write_failure));
    }
    std::optional<http::TransferError> failed;
    if (outcome) {
        if (outcome->condition_unmet || m_sink.not_modified())
            return finish(m_sink.finish_not_modified(outcome->head));
        failed = m_sink.incomplete();
        if (!failed) return finish(m_sink.finish(outcome->head));
    } else {
        failed = std::move(outcome.error());
    }
    const http::TransferError& failure = *failed;
    if (stop_requested() || failure.cause == http::FailureCause::interrupted) {
        give_up(interrupted());
        return {};
    }
    if (m_sink.take_rerequest()) {
        if (++m_fresh_starts <= k_max_fresh_starts) return {Next::What::again};
        give_up(Error{ErrorKind::protocol,
                      fmt::format("{}: the download started over {} times (the file keeps "
                                  "changing on the server); try again later",
                                  shown, k_max_fresh_starts)});
        return {};
    }
    if (failure.http_status == 416 && m_request.resume_from > 0) {
        // Nothing left to send from that offset: either we already have it all, or the
        // .part is longer than the resource now is.
        if (m_sink.total() && *m_sink.total() == m_request.resume_from) {
            http::ResponseHead head;
            head.status = 416;
            head.url = shown;
            auto result = m_sink.finish(head);
            const auto next = finish(std::move(result));
            if (m_result && *m_result) (*m_result)->seconds = 0;
            return next;
        }
        if (!m_restarted_after_416) {
            m_restarted_after_416 = true;
            if (auto again = m_sink.restart(); !again) {
                give_up(again.error());
                return {};
            }
            m_observer.on_note(
                fmt::format("{} cannot send the rest from byte {} (416); starting over", shown,
                            m_request.resume_from));
            return {Next::What::again};
        }
    }
    const auto delay = http::retry_delay(m_options.retry, m_retry + 1, failure,
                                         std::chrono::system_clock::now(), http::random_jitter());
    if (!delay) {
        give_up(failure.error);
        return {};
    }
    ++m_retry;
    m_observer.on_retry(m_retry, m_options.retry.max_retries, *delay, failure.error);
    Next next{Next::What::wait, *delay};
    next.server_busy =
        failure.retry_after.has_value() || failure.http_status == 429 || failure.http_status == 503;
    return next;
}

} // namespace nettool
