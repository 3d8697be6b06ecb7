#include "retrieve_transfer.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fcntl.h>
#include <functional>
#include <map>
#include <mutex>
#include <nettool/atomic_output.hpp>
#include <nettool/directory_names.hpp>
#include <nettool/directory_sync.hpp>
#include <nettool/retrieve_many.hpp>
#include <nettool/stop.hpp>
#include <nettool/unique_fd.hpp>
#include <thread>

namespace nettool {
namespace {

using Clock = std::chrono::steady_clock;
using Next = RetrieveTransfer::Next;

// Downloads whose transfer ended but whose file is not settled yet, at most this many per job:
// beyond it no new transfer starts until the disk catches up (each holds a descriptor and a
// writer thread).
constexpr std::size_t k_finishing_per_job = 4;
// Threads of the slow lane, at most (started as the work needs them).
constexpr std::size_t k_finish_threads_per_job = 4;
constexpr std::size_t k_most_finish_threads = 64;
// The largest download (bytes of its last request) that goes to the quick lane.
constexpr std::uint64_t k_settled_quickly = 256 * 1024;
// The longest the loop sleeps without looking at the stop request and the clock.
constexpr std::chrono::milliseconds k_longest_wait{500};
// The output directory's names are read once for this many -O downloads or more, and only
// while it holds at most this many names per download: reading a name costs about a
// twentieth of a lookup that fails (0.35 us against 8 on ext4 here), and each download spares
// two such lookups.
constexpr std::size_t k_names_worth_reading = 16;
constexpr std::size_t k_names_per_download = 16;

// The threads that conclude transfers (the last writes, the digest, fsync, rename), so that
// the loop driving the transfers never waits for the disk. Each finished piece of work wakes
// the engine, whose run() the loop is usually in. Two lanes:
// - quick: small downloads that wait for nothing (no fsync, no digest): making the file,
//   one write to the page cache, its time and its link. One thread takes them in order; it
//   runs beside the loop on another core, and more threads would only queue on the
//   directory's lock (and cost a start each).
// - slow: everything else. Threads start only when work finds none idle, up to a cap: fsyncs
//   need many (each waits for the disk, and concurrent ones share the journal's commits).
class FinishPool {
  public:
    FinishPool(std::size_t max_threads, http::MultiTransferEngine& engine)
        : m_engine(engine), m_max_threads(std::max<std::size_t>(max_threads, 1)) {}
    ~FinishPool() {
        {
            std::lock_guard lock(m_mutex);
            m_closing = true;
        }
        m_slow.wanted.notify_all();
        m_quick.wanted.notify_all();
        for (auto& thread : m_threads)
            thread.join();
    }
    FinishPool(const FinishPool&) = delete;
    FinishPool& operator=(const FinishPool&) = delete;

    void submit(std::size_t index, std::function<Next()> task, bool quick) {
        Lane& lane = quick ? m_quick : m_slow;
        const std::size_t most = quick ? 1 : m_max_threads;
        bool start = false;
        {
            std::lock_guard lock(m_mutex);
            lane.queue.emplace_back(index, std::move(task));
            // Work already queued for the idle ones counts against them.
            start = lane.queue.size() > lane.idle && lane.threads < most;
            if (start) {
                ++lane.threads;
                m_threads.emplace_back([this, &lane] { work(lane); });
            }
        }
        if (!start) lane.wanted.notify_one();
    }

    std::vector<std::pair<std::size_t, Next>> take_done() {
        std::lock_guard lock(m_mutex);
        return std::exchange(m_done, {});
    }

    // Waits until some work is done or `wait` has passed.
    void wait_for_done(std::chrono::milliseconds wait) {
        std::unique_lock lock(m_mutex);
        m_finished.wait_for(lock, wait, [this] { return !m_done.empty(); });
    }

  private:
    struct Lane {
        std::deque<std::pair<std::size_t, std::function<Next()>>> queue;
        std::condition_variable wanted;
        std::size_t threads = 0;
        std::size_t idle = 0; // threads waiting for work
    };

    void work(Lane& lane) {
        std::unique_lock lock(m_mutex);
        for (;;) {
            ++lane.idle;
            lane.wanted.wait(lock, [&] { return m_closing || !lane.queue.empty(); });
            --lane.idle;
            if (lane.queue.empty()) return;
            auto job = std::move(lane.queue.front());
            lane.queue.pop_front();
            lock.unlock();
            Next next = job.second();
            lock.lock();
            m_done.emplace_back(job.first, next);
            // The loop takes everything done at once: it needs waking only for the first.
            if (m_done.size() > 1) continue;
            lock.unlock();
            m_finished.notify_all();
            m_engine.wake();
            lock.lock();
        }
    }

    http::MultiTransferEngine& m_engine;
    const std::size_t m_max_threads;
    std::mutex m_mutex;
    std::condition_variable m_finished;
    Lane m_quick;
    Lane m_slow;
    std::vector<std::pair<std::size_t, Next>> m_done;
    bool m_closing = false;
    std::vector<std::thread> m_threads; // last: joined before the rest goes
};

enum class State { pending, running, finishing, waiting, done };

struct Download {
    State state = State::pending;
    std::unique_ptr<RetrieveTransfer> transfer;
    Clock::time_point ready; // waiting: not before
    // Its host was held back from the moment the server asked for a pause until conclude()
    // says how long; this is the hold that was there before.
    std::optional<Clock::time_point> host_hold_before;
};

Error interrupted() {
    return Error{ErrorKind::interrupted, "interrupted"};
}

class Scheduler {
  public:
    Scheduler(const std::vector<RetrieveOptions>& downloads, const RetrieveManyOptions& options,
              http::MultiTransferEngine& engine, RetrieveManyObserver& observer)
        : m_options(downloads), m_jobs(std::max<std::size_t>(options.jobs, 1)), m_engine(engine),
          m_observer(observer), m_downloads(downloads.size()),
          m_pool(std::min(m_jobs * k_finish_threads_per_job, k_most_finish_threads), engine) {
        for (std::size_t i = 0; i < downloads.size(); ++i) {
            m_pending.push_back(i);
            const http::Url& url = downloads[i].url;
            m_origins.push_back(url.scheme + "://" + url.host + ":" +
                                (url.port ? std::to_string(*url.port) : std::string()));
        }
    }

    void run() {
        while (m_ended < m_downloads.size()) {
            if (stop_requested()) stop_the_idle();
            // What finished first: it makes room under the caps for what starts next. The
            // other way round, a loop that found the finishing cap reached started nothing,
            // then took in everything finished and, with nothing running or finishing, slept
            // its longest wait: 1000 small files with -j 4 took 3 s instead of 0.1.
            for (auto& [index, next] : m_pool.take_done())
                apply(index, next);
            start_what_may();
            if (m_ended == m_downloads.size()) break;
            const auto wait = until_next_ready();
            if (m_running > 0) {
                for (auto& ended : m_engine.run(wait))
                    conclude(static_cast<std::size_t>(ended.id), std::move(ended.result));
            } else if (m_finishing > 0) {
                m_pool.wait_for_done(wait);
            } else if (!stop_requested()) {
                (void)util::sleep_unless_stopped(wait);
            }
        }
    }

  private:
    // A server's pause request (Retry-After) concerns its origin: scheme, host and port.
    const std::string& host_of(std::size_t index) const { return m_origins[index]; }

    bool host_busy(std::size_t index, Clock::time_point now) const {
        const auto found = m_busy_hosts.find(host_of(index));
        return found != m_busy_hosts.end() && found->second > now;
    }

    // The next download that may start now: a retry that is due, else the first new one
    // whose host is not asking for a pause.
    std::optional<std::size_t> next_startable(Clock::time_point now) {
        for (auto it = m_retrying.begin(); it != m_retrying.end(); ++it) {
            if (m_downloads[*it].ready <= now && !host_busy(*it, now)) {
                const std::size_t index = *it;
                m_retrying.erase(it);
                return index;
            }
        }
        for (auto it = m_pending.begin(); it != m_pending.end(); ++it) {
            if (!host_busy(*it, now)) {
                const std::size_t index = *it;
                m_pending.erase(it);
                return index;
            }
        }
        return std::nullopt;
    }

    void start_what_may() {
        if (stop_requested()) return;
        const auto now = Clock::now();
        while (m_running < m_jobs && m_finishing < m_jobs * k_finishing_per_job) {
            const auto index = next_startable(now);
            if (!index) return;
            Download& download = m_downloads[*index];
            if (!download.transfer) {
                download.transfer = std::make_unique<RetrieveTransfer>(
                    m_options[*index], m_observer.observer_for(*index));
                if (!download.transfer->prepare()) {
                    end(*index);
                    continue;
                }
            }
            download.state = State::running;
            ++m_running;
            m_engine.start(*index, download.transfer->next_request(), download.transfer->sink());
        }
    }

    void conclude(std::size_t index, http::TransferResult result) {
        Download& download = m_downloads[index];
        download.state = State::finishing;
        --m_running;
        ++m_finishing;
        if (!result && (result.error().retry_after || result.error().http_status == 429 ||
                        result.error().http_status == 503)) {
            // Nothing more goes to this host until the pause it asked for is known.
            auto& until = m_busy_hosts[host_of(index)];
            download.host_hold_before = until;
            until = Clock::time_point::max();
        }
        RetrieveTransfer* transfer = download.transfer.get();
        const bool quick = settles_quickly(index, result);
        m_pool.submit(
            index,
            [transfer, outcome = std::move(result)]() mutable {
                return transfer->conclude(std::move(outcome));
            },
            quick);
    }

    // A small download that succeeded without fsync, digest or registry waits for nothing
    // in concluding: its file made, one write of what it holds (to the page cache), the time
    // and the link. The pool's quick lane does that on one thread beside this loop (1000 x
    // 10 KiB: 100 ms done here, 90 there). Larger ones may have writes queued behind a writer
    // thread (which dirty-page throttling can hold up), failures may retry: the slow lane's.
    bool settles_quickly(std::size_t index, const http::TransferResult& result) const {
        const RetrieveOptions& o = m_options[index];
        return result && result->body_bytes <= k_settled_quickly && !o.sync && !o.checksum &&
               !o.sha256 && (o.file || o.remote_name);
    }

    void apply(std::size_t index, const Next& next) {
        Download& download = m_downloads[index];
        --m_finishing;
        if (download.host_hold_before) {
            m_busy_hosts[host_of(index)] = *std::exchange(download.host_hold_before, std::nullopt);
        }
        if (next.what == Next::What::finished) {
            end(index);
            return;
        }
        const auto now = Clock::now();
        download.state = State::waiting;
        download.ready = now + next.delay;
        if (next.server_busy) {
            auto& until = m_busy_hosts[host_of(index)];
            until = std::max(until, download.ready);
        }
        m_retrying.push_back(index);
    }

    void end(std::size_t index) {
        Download& download = m_downloads[index];
        download.state = State::done;
        ++m_ended;
        if (download.transfer) {
            m_observer.on_done(index, download.transfer->result());
            download.transfer.reset(); // its file and writer go now, not at the end of the list
        } else {
            m_observer.on_done(index, tl::unexpected(interrupted()));
        }
    }

    // After a stop: what is not running ends now; running transfers end through the engine.
    void stop_the_idle() {
        for (const std::size_t index : std::exchange(m_retrying, {})) {
            m_downloads[index].transfer->give_up(interrupted());
            end(index);
        }
        for (const std::size_t index : std::exchange(m_pending, {}))
            end(index);
    }

    std::chrono::milliseconds until_next_ready() const {
        auto wait = k_longest_wait;
        const auto now = Clock::now();
        for (const std::size_t index : m_retrying) {
            const auto ready = std::max(m_downloads[index].ready, [&] {
                const auto found = m_busy_hosts.find(host_of(index));
                return found == m_busy_hosts.end() ? now : found->second;
            }());
            wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      ready - now + std::chrono::milliseconds(1)));
        }
        if (!m_pending.empty() && m_running < m_jobs) {
            for (const auto& [host, until] : m_busy_hosts) {
                if (until > now) {
                    wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                              until - now + std::chrono::milliseconds(1)));
                }
            }
        }
        return std::max(wait, std::chrono::milliseconds(0));
    }

    const std::vector<RetrieveOptions>& m_options;
    std::size_t m_jobs;
    http::MultiTransferEngine& m_engine;
    RetrieveManyObserver& m_observer;
    std::vector<Download> m_downloads;
    std::vector<std::string> m_origins;
    std::deque<std::size_t> m_pending;  // not started, in list order
    std::deque<std::size_t> m_retrying; // waiting to be tried again
    std::map<std::string, Clock::time_point> m_busy_hosts;
    std::size_t m_running = 0;
    std::size_t m_finishing = 0;
    std::size_t m_ended = 0;
    FinishPool m_pool; // last: its threads stop before the downloads they work on go
};

} // namespace

std::unique_ptr<http::MultiTransferEngine>
make_retrieve_engine(const RetrieveManyOptions& options) {
    http::MultiOptions multi;
    multi.max_connections = std::max<std::size_t>(options.jobs, 1);
    multi.total_rate = options.total_rate;
    return http::make_multi_engine(multi);
}

void retrieve_many(const std::vector<RetrieveOptions>& downloads,
                   const RetrieveManyOptions& options, http::MultiTransferEngine& engine,
                   RetrieveManyObserver& observer) {
    // Files renamed into one directory at about the same time share its fsync.
    DirectorySyncs directory_syncs;
    std::vector<RetrieveOptions> shared = downloads;
    const mode_t final_mode = 0666 & ~current_umask();
    // The -O downloads all save into one directory (--output-dir, or .): opened once here.
    // Where that fails, each download opens it by path and reports the failure itself.
    UniqueFd output_dir;
    std::size_t into_output_dir = 0;
    for (const auto& download : downloads) {
        if (download.file || !download.remote_name) continue;
        if (into_output_dir++ > 0) continue;
        const std::string dir = download.output_dir.value_or(".");
        output_dir.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
    // Its names, read once, spare each of those downloads two lookups of names that are not
    // there; not where there are many more names than downloads.
    std::unique_ptr<const DirectoryNames> output_dir_names;
    if (output_dir && into_output_dir >= k_names_worth_reading)
        output_dir_names =
            DirectoryNames::read(output_dir.get(), into_output_dir * k_names_per_download);
    for (auto& download : shared) {
        if (!download.file && download.remote_name) {
            download.output_dir_fd = output_dir.get();
            download.output_dir_names = output_dir_names.get();
        }
        download.directory_syncs = &directory_syncs;
        if (!download.final_mode) download.final_mode = final_mode;
        download.sidecar_on_first_write = true;
    }
    Scheduler(shared, options, engine, observer).run();
}

} // namespace nettool
