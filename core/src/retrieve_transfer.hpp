#pragma once
// One download as the steps a driver takes, so that one object serves every way of running
// it: retrieve() performs its requests one after another on a TransferEngine, retrieve_many()
// interleaves many downloads on one MultiTransferEngine. The object decides everything about
// the download (what to ask for, whether a failure is retried, after how long, when it is
// done); the driver only carries its requests and keeps time.
#include "retrieve_sink.hpp"

#include <chrono>
#include <nettool/http/transfer.hpp>
#include <nettool/retrieve.hpp>
#include <optional>

namespace nettool {

class RetrieveTransfer {
  public:
    // `options` and `observer` must outlive the transfer.
    RetrieveTransfer(const RetrieveOptions& options, RetrieveObserver& observer);
    RetrieveTransfer(const RetrieveTransfer&) = delete;
    RetrieveTransfer& operator=(const RetrieveTransfer&) = delete;

    // Before the first request (opens FILE.part for -c, refuses an existing FILE ...). A
    // failure here is the result.
    Status prepare();
    // The next request: from the bytes on disk, with If-Range when resuming.
    const http::Request& next_request();
    // Where the engine delivers the response of next_request().
    http::TransferSink& sink() { return m_sink; }

    struct Next {
        enum class What { finished, again, wait };
        What what = What::finished;
        std::chrono::milliseconds delay{0}; // with wait: then next_request() again
        // The server asked for the pause (Retry-After, 429, 503): it concerns its whole host.
        bool server_busy = false;
    };
    // The engine ended the request: settles the bytes on disk and says what comes next.
    // Finished: result() is ready. May be called on another thread than the request ran on,
    // as long as one thread at a time touches the transfer.
    Next conclude(http::TransferResult outcome);
    // Ends the download now (a stop, a wait that was interrupted): result() is this error.
    void give_up(Error error);

    Result<RetrieveResult>& result() { return *m_result; }
    const RetrieveOptions& options() const { return m_options; }

  private:
    Next finish(Result<RetrieveResult> result);

    const RetrieveOptions& m_options;
    RetrieveObserver& m_observer;
    DownloadSink m_sink;
    http::Request m_request;
    std::chrono::steady_clock::time_point m_started;
    int m_retry = 0;
    int m_fresh_starts = 0;
    bool m_restarted_after_416 = false;
    std::optional<Result<RetrieveResult>> m_result;
};

} // namespace nettool
