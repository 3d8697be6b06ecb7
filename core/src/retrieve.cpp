#include "retrieve_sink.hpp"
#include "util/time.hpp"

#include <charconv>
#include <fmt/format.h>
#include <nettool/http/url.hpp>
#include <nettool/retrieve.hpp>
#include <nettool/stop.hpp>

namespace nettool {
namespace {

// How often one run may start over because the sink asked for it (the resource changed, or a
// -O name turned out to have a .part to continue) before it gives up.
constexpr int k_max_fresh_starts = 3;

Error interrupted() {
    return Error{ErrorKind::interrupted, "interrupted"};
}

double seconds_since(std::chrono::steady_clock::time_point started) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

Result<RetrieveResult> run(const RetrieveOptions& options, http::TransferEngine& engine,
                           RetrieveObserver& observer, DownloadSink& sink) {
    const http::Url* url = &options.url;
    const auto started = std::chrono::steady_clock::now();
    if (auto prepared = sink.prepare(); !prepared) return tl::unexpected(prepared.error());

    http::Request request;
    request.url = options.url;
    request.options = options.transfer;
    // The bytes as sent: a range over a decoded body would splice two different streams.
    request.options.decode_content = false;
    int retry = 0;
    int fresh_starts = 0;
    bool restarted_after_416 = false;
    for (;;) {
        sink.before_request();
        request.resume_from = sink.offset();
        request.if_range = request.resume_from > 0 ? sink.validator() : std::nullopt;
        request.if_modified_since = sink.local_time();
        auto outcome = engine.perform(request, sink);
        // Every byte received reaches the file before anything looks at its size; a write
        // that failed behind the transfer fails it (a full disk is not worth a retry).
        if (auto settled = sink.settle(!outcome); !settled) {
            http::TransferError write_failure;
            write_failure.error = settled.error();
            write_failure.cause = http::FailureCause::local_io;
            outcome = tl::unexpected(std::move(write_failure));
        }
        std::optional<http::TransferError> failed;
        if (outcome) {
            if (outcome->condition_unmet || sink.not_modified()) {
                observer.on_end(true);
                auto result = sink.finish_not_modified(outcome->head);
                if (result) result->seconds = seconds_since(started);
                return result;
            }
            failed = sink.incomplete();
            if (!failed) {
                observer.on_end(true);
                auto result = sink.finish(outcome->head);
                if (result) result->seconds = seconds_since(started);
                return result;
            }
        } else {
            failed = std::move(outcome.error());
        }
        const http::TransferError& failure = *failed;
        if (stop_requested() || failure.cause == http::FailureCause::interrupted) {
            observer.on_end(false);
            return tl::unexpected(interrupted());
        }
        if (sink.take_rerequest()) {
            if (++fresh_starts <= k_max_fresh_starts) continue;
            observer.on_end(false);
            return fail(ErrorKind::protocol,
                        fmt::format("{}: the download started over {} times (the file keeps "
                                    "changing on the server); try again later",
                                    url->shown, k_max_fresh_starts));
        }
        if (failure.http_status == 416 && request.resume_from > 0) {
            // Nothing left to send from that offset: either we already have it all, or the
            // .part is longer than the resource now is.
            if (sink.total() && *sink.total() == request.resume_from) {
                observer.on_end(true);
                http::ResponseHead head;
                head.status = 416;
                head.url = url->shown;
                auto result = sink.finish(head);
                if (result) result->seconds = 0;
                return result;
            }
            if (!restarted_after_416) {
                restarted_after_416 = true;
                if (auto again = sink.restart(); !again) return tl::unexpected(again.error());
                observer.on_note(
                    fmt::format("{} cannot send the rest from byte {} (416); starting over",
                                url->shown, request.resume_from));
                continue;
            }
        }
        const auto delay =
            http::retry_delay(options.retry, retry + 1, failure, std::chrono::system_clock::now(),
                              http::random_jitter());
        if (!delay) {
            observer.on_end(false);
            return tl::unexpected(failure.error);
        }
        ++retry;
        observer.on_retry(retry, options.retry.max_retries, *delay, failure.error);
        if (!util::sleep_unless_stopped(*delay)) {
            observer.on_end(false);
            return tl::unexpected(interrupted());
        }
    }
}

} // namespace

std::optional<std::uint64_t> content_range_total(std::string_view value) {
    const auto slash = value.rfind('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const std::string_view digits = value.substr(slash + 1);
    std::uint64_t total = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), total);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
        return std::nullopt;
    return total;
}

Result<RetrieveResult> retrieve(const RetrieveOptions& options, http::TransferEngine& engine,
                                RetrieveObserver& observer) {
    DownloadSink sink(options, observer);
    auto result = run(options, engine, observer, sink);
    if (!result) {
        (void)sink.settle(true); // blocks reserved past the end of a .part go back
        sink.abandon();
    }
    return result;
}

} // namespace nettool
