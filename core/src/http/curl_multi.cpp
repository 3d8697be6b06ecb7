// The libcurl multi engine: one multi handle runs every transfer, so connections are pooled
// (capped at MultiOptions::max_connections, in total and per host) and HTTP/2 streams share a
// connection. Each transfer is a PreparedTransfer, the same set-up the blocking engine uses.
// A total rate is one token bucket over all transfers: a chunk that finds it overdrawn pauses
// its transfer until the budget is back, so the sum holds whatever the number of transfers.
#include "curl_handles.hpp"
#include "curl_prepared.hpp"

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <nettool/http/transfer.hpp>
#include <nettool/stop.hpp>
#include <new>

namespace nettool::http {
namespace {

using Clock = std::chrono::steady_clock;

struct MultiDeleter {
    void operator()(CURLM* handle) const { curl_multi_cleanup(handle); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

// The longest poll while a rate is kept: the budget is looked at least this often.
constexpr std::chrono::milliseconds k_rate_tick{10};

// Bytes per second over every transfer, with a burst of a tenth of a second.
class TokenBucket {
  public:
    explicit TokenBucket(std::uint64_t rate)
        : m_rate(static_cast<double>(rate)),
          m_capacity(std::max(16384.0, static_cast<double>(rate) / 10)), m_last(Clock::now()) {}
    void refill(Clock::time_point now) {
        m_tokens = std::min(
            m_capacity, m_tokens + m_rate * std::chrono::duration<double>(now - m_last).count());
        m_last = now;
    }
    void spend(std::uint64_t bytes) { m_tokens -= static_cast<double>(bytes); }
    bool overdrawn() const { return m_tokens < 0; }
    // How long until the budget is back to zero.
    std::chrono::milliseconds until_even() const {
        if (m_tokens >= 0) return std::chrono::milliseconds(0);
        return std::chrono::milliseconds(static_cast<std::int64_t>(-m_tokens / m_rate * 1000) + 1);
    }

  private:
    double m_rate;
    double m_capacity;
    double m_tokens = 0;
    Clock::time_point m_last;
};

// One transfer's view of the shared bucket: a chunk is admitted while the budget lasts; one
// that finds it spent pauses the transfer, and the loop unpauses it once the budget is back.
class BucketGate final : public RateGate {
  public:
    explicit BucketGate(TokenBucket& bucket) : m_bucket(bucket) {}
    bool admit(std::size_t bytes) override {
        m_bucket.refill(Clock::now());
        if (m_bucket.overdrawn()) {
            paused = true;
            return false;
        }
        m_bucket.spend(bytes);
        return true;
    }
    bool paused = false;

  private:
    TokenBucket& m_bucket;
};

struct Job {
    Job() = default;
    Job(Job&&) noexcept = default;
    Job& operator=(Job&&) = delete; // would clean up the old handle before unhooking it
    ~Job() {
        prepared.reset();
        // The reset turned signals back on, and curl_easy_cleanup() of such a handle sets
        // and restores SIGPIPE's disposition around its work (three sigactions a file in
        // retrieve -i). A handle of the multi owns no connection, so its cleanup writes to
        // no socket: nothing to guard.
        if (easy) curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
    }

    std::uint64_t id = 0;
    EasyHandle easy;
    std::unique_ptr<BucketGate> gate;
    std::unique_ptr<PreparedTransfer> prepared; // last: unhooks the handle first
};

class CurlMultiEngine final : public MultiTransferEngine {
  public:
    explicit CurlMultiEngine(const MultiOptions& options) {
        ensure_curl_initialized();
        m_multi.reset(curl_multi_init());
        if (!m_multi) throw std::bad_alloc();
        const long cap = static_cast<long>(std::max<std::size_t>(options.max_connections, 1));
        curl_multi_setopt(m_multi.get(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        curl_multi_setopt(m_multi.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, cap);
        curl_multi_setopt(m_multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, cap);
        curl_multi_setopt(m_multi.get(), CURLMOPT_MAXCONNECTS, cap);
        if (options.total_rate) m_bucket.emplace(*options.total_rate);
    }
    ~CurlMultiEngine() override {
        for (auto& [easy, job] : m_jobs)
            curl_multi_remove_handle(m_multi.get(), easy);
        m_jobs.clear(); // each PreparedTransfer resets its handle before the handle goes
    }
    CurlMultiEngine(const CurlMultiEngine&) = delete;
    CurlMultiEngine& operator=(const CurlMultiEngine&) = delete;

    void start(std::uint64_t id, const Request& request, TransferSink& sink) override {
        Job job;
        job.id = id;
        // A fresh handle each time: one that ran in a multi handle may refuse options a new
        // transfer sets (libcurl 7.88 refuses CURLOPT_BUFFERSIZE on a handle whose buffer
        // is still allocated, as after an HTTP/2 transfer). The connections live in the multi
        // handle, so nothing is lost; reusing handles measured no faster on small files.
        job.easy.reset(curl_easy_init());
        if (!job.easy) throw std::bad_alloc();
        job.prepared = std::make_unique<PreparedTransfer>(job.easy.get(), request, sink);
        if (m_bucket) {
            job.gate = std::make_unique<BucketGate>(*m_bucket);
            job.prepared->set_rate_gate(job.gate.get());
        }
        if (auto refused = job.prepared->configure(nullptr, m_bucket.has_value())) {
            m_done.push_back({id, tl::unexpected(std::move(*refused))});
            return;
        }
        CURL* easy = job.easy.get();
        // Over TLS the server may offer HTTP/2 (ALPN): transfers started together wait for the
        // first connection to say so and then share it, instead of each opening its own.
        // Plain http:// cannot multiplex here, so nothing waits there.
        if (request.url.scheme == "https") curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
        if (const CURLMcode rc = curl_multi_add_handle(m_multi.get(), easy); rc != CURLM_OK) {
            TransferError failure;
            failure.error =
                Error{ErrorKind::generic,
                      fmt::format("libcurl refused the transfer: {}", curl_multi_strerror(rc))};
            m_done.push_back({id, tl::unexpected(std::move(failure))});
            return;
        }
        m_jobs.emplace(easy, std::move(job));
    }

    std::vector<MultiDone> run(std::chrono::milliseconds wait) override {
        const auto deadline = Clock::now() + wait;
        for (;;) {
            int running = 0;
            curl_multi_perform(m_multi.get(), &running);
            collect();
            if (!m_done.empty() || m_jobs.empty() || m_woken.exchange(false))
                return std::exchange(m_done, {});
            auto timeout =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (timeout.count() <= 0) return {};
            if (stop_requested()) {
                // Paused transfers would never see the stop: let them run into it.
                unpause();
            } else if (m_bucket) {
                m_bucket->refill(Clock::now());
                if (!m_bucket->overdrawn()) unpause();
                timeout =
                    std::min({timeout, k_rate_tick,
                              std::max(m_bucket->until_even(), std::chrono::milliseconds(1))});
            }
            curl_waitfd stop{};
            stop.fd = stop_fd();
            stop.events = CURL_WAIT_POLLIN;
            curl_multi_poll(m_multi.get(), &stop, stop.fd >= 0 ? 1 : 0,
                            static_cast<int>(timeout.count()), nullptr);
        }
    }

    void wake() override {
        m_woken = true;
        curl_multi_wakeup(m_multi.get());
    }

  private:
    void collect() {
        int left = 0;
        while (CURLMsg* message = curl_multi_info_read(m_multi.get(), &left)) {
            if (message->msg != CURLMSG_DONE) continue;
            CURL* easy = message->easy_handle;
            const CURLcode code = message->data.result;
            auto found = m_jobs.find(easy);
            if (found == m_jobs.end()) continue;
            curl_multi_remove_handle(m_multi.get(), easy);
            Job job = std::move(found->second);
            m_jobs.erase(found);
            m_done.push_back({job.id, job.prepared->conclude(code)});
        }
    }

    void unpause() {
        for (auto& [easy, job] : m_jobs) {
            if (!job.gate || !job.gate->paused) continue;
            job.gate->paused = false;
            // May deliver the held chunk at once, through the callbacks, into the sink (and
            // pause again).
            curl_easy_pause(easy, CURLPAUSE_CONT);
        }
    }

    MultiHandle m_multi;
    std::map<CURL*, Job> m_jobs;
    std::vector<MultiDone> m_done;
    std::optional<TokenBucket> m_bucket;
    std::atomic<bool> m_woken{false};
};

} // namespace

std::unique_ptr<MultiTransferEngine> make_multi_engine(const MultiOptions& options) {
    return std::make_unique<CurlMultiEngine>(options);
}

} // namespace nettool::http
