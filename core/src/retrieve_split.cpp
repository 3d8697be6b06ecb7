#include "retrieve_split.hpp"

#include "offset_writer.hpp"
#include "split_plan.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits>
#include <map>
#include <memory>
#include <nettool/atomic_output.hpp>
#include <nettool/digest.hpp>
#include <nettool/part_meta.hpp>
#include <nettool/stop.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <unistd.h>

namespace nettool {
namespace {

using Clock = std::chrono::steady_clock;

// A half smaller than this is not worth a connection of its own (its set-up would cost more
// than it saves).
constexpr std::uint64_t k_min_piece = 1024 * 1024;
// How long the governor measures each number of connections.
constexpr std::chrono::milliseconds k_window{200};
// How often the sidecar is brought up to date while the download runs (a killed process
// then refetches at most this much of each segment).
constexpr std::chrono::milliseconds k_meta_interval{3000};
// The longest the loop runs without looking at the clock, the governor and the progress.
constexpr std::chrono::milliseconds k_tick{100};
// The same while the governor measures: its windows start and end within this of the moment
// every connection flows and the window is over (a ramp to 8 connections takes three windows).
constexpr std::chrono::milliseconds k_measuring_tick{10};
constexpr int k_max_fresh_starts = 3;

bool is_strong_etag(std::string_view etag) {
    return !etag.empty() && etag.rfind("W/", 0) != 0;
}

bool contains_token(std::string_view list, std::string_view token) {
    std::string lower(list);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower.find(token) != std::string::npos;
}

// Why the answer to the first request does not allow segments; empty when it does.
std::string why_not_split(const http::ResponseHead& head) {
    if (!head.is_http()) return "it is not an HTTP URL";
    if (head.status != 200) return fmt::format("it answered {}, not 200", head.status);
    if (!contains_token(head.find("Accept-Ranges").value_or(""), "bytes"))
        return "the server does not offer byte ranges (no 'Accept-Ranges: bytes')";
    if (!head.content_length) return "the server did not say how long the file is";
    if (*head.content_length == 0) return "the file is empty";
    if (!is_strong_etag(head.find("ETag").value_or("")) && !head.find("Last-Modified"))
        return "the server sent no strong ETag or Last-Modified to check each range against";
    return {};
}

class SplitDownload;

// One request of the download: the first one (an ordinary GET whose answer decides), or a
// range of one segment.
struct Job final : http::TransferSink {
    Job(SplitDownload& download, std::uint64_t start, bool first)
        : owner(download), segment(start), probe(first), started(Clock::now()) {}
    Status on_response(const http::ResponseHead& head) override;
    Status on_body(std::span<const char> chunk) override;

    SplitDownload& owner;
    std::uint64_t segment; // its start
    bool probe;
    http::Request request;
    // Where the bytes asked for end (exclusive): a segment shortened by a split after the
    // request keeps coming past its new end, into the segment split off it.
    std::uint64_t request_end = std::numeric_limits<std::uint64_t>::max();
    // Bytes on disk already, from a segment given back to this job: it receives them but
    // does not write them again.
    std::uint64_t skip_begin = 0;
    std::uint64_t skip_end = 0;
    Clock::time_point started;             // the request was made
    std::optional<Clock::time_point> flow; // its first body bytes came (it is flowing)
    bool reached_end = false; // the segment is complete (the transfer may have been stopped)
    bool dismissed = false;   // the governor wants fewer connections: this one ends
    bool gave_back = false;   // its segment went to the job before it, and is gone
};

class SplitDownload {
  public:
    SplitDownload(const RetrieveOptions& options, http::TransferEngine& engine,
                  RetrieveObserver& observer)
        : m_options(options), m_engine(engine), m_observer(observer),
          m_governor(options.split, k_window), m_started(Clock::now()) {
        m_base.url = options.url;
        m_base.options = options.transfer;
        m_base.options.decode_content = false;
        m_base.options.limit_rate.reset(); // kept in total by the multi engine
        m_meta.url = options.url.shown;
        m_meta.started = std::time(nullptr);
    }

    Result<RetrieveResult> run();
    Status on_response(Job& job, const http::ResponseHead& head);
    Status on_body(Job& job, std::span<const char> chunk);

  private:
    Status open();
    void start(std::uint64_t segment, bool probe);
    void schedule();
    // Ends the newest connections beyond the governor's number; their segments go back to
    // the job before them (give_back) or wait, idle.
    void dismiss_extra();
    void give_back(Job& dismissed);
    Job* job_fetching(std::uint64_t segment);
    Status write_unless_there(Job& job, std::uint64_t at, std::span<const char> piece);
    void conclude(Job& job, http::TransferResult result);
    void stop_all();
    Status write_meta(bool data_first);
    void keep_part();
    std::string changed_since(const http::ResponseHead& head) const;
    std::optional<std::string> validator() const;
    Result<RetrieveResult> finish();
    Result<RetrieveResult> fall_back();
    // Gives up splitting for one connection, saying why: the transfer that found out ends.
    Status decide_to_fall_back(std::string_view why);
    bool stopping() const { return m_fall_back || m_fresh_start || m_failure; }

    const RetrieveOptions& m_options;
    http::TransferEngine& m_engine;
    RetrieveObserver& m_observer;
    SplitGovernor m_governor;
    Clock::time_point m_started;
    http::Request m_base;
    PartMeta m_meta;
    std::optional<AtomicOutput> m_output;
    std::optional<OffsetWriter> m_writer; // after m_output: stops before it closes
    std::optional<SegmentPlan> m_plan;
    std::map<std::uint64_t, std::unique_ptr<Job>> m_jobs; // by id
    // After the jobs: it goes first, and may call their sinks while it lets go of them.
    std::unique_ptr<http::MultiTransferEngine> m_multi;
    std::uint64_t m_next_id = 0;
    std::optional<http::ResponseHead> m_head;
    std::optional<std::chrono::system_clock::time_point> m_last_modified;
    std::map<std::uint64_t, int> m_retries; // by segment
    int m_fresh_starts = 0;
    bool m_fall_back = false;
    bool m_fresh_start = false;
    std::optional<Error> m_failure;
    Clock::time_point m_meta_written;
    std::optional<Clock::duration> m_first_wait; // the first request's wait for its first byte
};

Status Job::on_response(const http::ResponseHead& head) {
    return owner.on_response(*this, head);
}
Status Job::on_body(std::span<const char> chunk) {
    return owner.on_body(*this, chunk);
}

Status SplitDownload::open() {
    AtomicOutputOptions o;
    o.force = m_options.force;
    o.resume = m_options.resume;
    o.final_mode = m_options.final_mode;
    auto output = AtomicOutput::open(*m_options.file, o);
    if (!output) return tl::unexpected(output.error());
    m_output.emplace(std::move(*output));
    if (!m_output->resumed() || m_output->direct()) return {};
    const auto meta =
        read_part_meta(m_output->dir_fd(), m_output->part_name(), m_output->part_path());
    std::string doubt;
    if (!meta || meta->segments.empty()) {
        doubt = fmt::format("{} has no readable segment map in {}", m_output->part_path(),
                            part_meta_name(m_output->part_path()));
    } else if (meta->part.known() && !meta->part.matches(m_output->identity())) {
        doubt = fmt::format("{} describes another file, not {}",
                            part_meta_name(m_output->part_path()), m_output->part_path());
    } else if (meta->url != m_options.url.shown) {
        doubt = fmt::format("{} holds bytes of {}, not of {}", m_output->part_path(), meta->url,
                            m_options.url.shown);
    } else if (auto plan = SegmentPlan::from_meta(*meta->content_length, meta->segments)) {
        m_meta = *meta;
        m_meta.part = m_output->identity();
        m_plan = std::move(plan);
        m_observer.on_start(m_output->path(), m_plan->length(), m_plan->received());
        return {};
    } else {
        doubt = fmt::format("the segment map in {} does not cover the file",
                            part_meta_name(m_output->part_path()));
    }
    if (!m_options.force)
        return fail(ErrorKind::file_io, fmt::format("{}; use --force to start over", doubt));
    if (auto restarted = m_output->restart(); !restarted) return restarted;
    m_observer.on_note(fmt::format("{}; starting over (--force)", doubt));
    return {};
}

std::optional<std::string> SplitDownload::validator() const {
    if (is_strong_etag(m_meta.etag)) return m_meta.etag;
    if (!m_meta.last_modified.empty()) return m_meta.last_modified;
    return std::nullopt;
}

void SplitDownload::start(std::uint64_t segment, bool probe) {
    auto job = std::make_unique<Job>(*this, segment, probe);
    job->request = m_base;
    if (!probe) {
        const auto& part = m_plan->at(segment);
        job->request.resume_from = segment + part.done;
        job->request.range_last = part.end - 1;
        job->request.if_range = validator();
        job->request_end = part.end;
        m_plan->at(segment).busy = true;
    }
    const std::uint64_t id = ++m_next_id;
    Job& started = *job;
    m_jobs.emplace(id, std::move(job));
    m_multi->start(id, started.request, started);
}

// Keeps the governor's number of connections busy: idle segments first, then halves of the
// largest remaining one.
void SplitDownload::schedule() {
    const auto now = Clock::now();
    while (m_jobs.size() < m_governor.target()) {
        if (auto idle = m_plan->next_idle(now)) {
            start(*idle, false);
        } else if (auto half = m_plan->split_largest(k_min_piece)) {
            start(*half, false);
        } else {
            break;
        }
    }
}

void SplitDownload::dismiss_extra() {
    std::size_t kept = 0;
    for (auto& [id, job] : m_jobs)
        kept += job->dismissed ? 0 : 1;
    for (auto it = m_jobs.rbegin(); it != m_jobs.rend() && kept > m_governor.target(); ++it) {
        if (it->second->dismissed || it->second->probe) continue;
        it->second->dismissed = true;
        give_back(*it->second);
        --kept;
    }
}

Job* SplitDownload::job_fetching(std::uint64_t segment) {
    for (auto& [id, job] : m_jobs) {
        if (job->segment == segment && !job->dismissed) return job.get(); // (gave_back: dismissed)
    }
    return nullptr;
}

// The segment of a dismissed connection may go to the connection fetching the segment before
// it when that one's request runs on through it (the first GET, or a range split after it
// was asked for): that connection is then not cut at its segment's end, and the rest of the
// dismissed segment is not asked for again on a new connection. But its stream carries the
// bytes the dismissed one had saved too, which it skips: worth it only where a new
// connection costs more than they take. Their time is about half of what the dismissed one
// spent receiving them (the two shared the link, which the runner now has alone); a new
// connection's cost is the wait for its first byte: the shorter of the first request's and
// the dismissed one's (which, started while another connection kept both cores busy, may
// have waited longer than a replacement will). On loopback the first is tens of ms and the
// second about one: the connection is cut and replaced, as before. Over a distant server
// (round trips, a TLS handshake, slow start) it is given back.
void SplitDownload::give_back(Job& dismissed) {
    const auto before = m_plan->previous(dismissed.segment);
    if (!before) return;
    Job* runner = job_fetching(*before);
    const auto& segment = m_plan->at(dismissed.segment);
    if (!runner || runner->reached_end || runner->request_end < segment.end) return;
    if (dismissed.flow) { // (one that saved nothing costs nothing to give back)
        const auto rereceive = (Clock::now() - *dismissed.flow) / 2;
        auto new_connection = *dismissed.flow - dismissed.started;
        if (m_first_wait) new_connection = std::min(new_connection, *m_first_wait);
        if (rereceive >= new_connection) return;
    }
    // One stretch to skip at a time: a second would wait for its connection's own end.
    if (runner->skip_end > *before + m_plan->at(*before).done) return;
    runner->skip_begin = dismissed.segment;
    runner->skip_end = dismissed.segment + segment.done;
    m_plan->merge_into_previous(dismissed.segment);
    dismissed.gave_back = true;
}

Status SplitDownload::write_unless_there(Job& job, std::uint64_t at, std::span<const char> piece) {
    const std::uint64_t end = at + piece.size();
    const std::uint64_t skip_from = std::clamp(job.skip_begin, at, end);
    const std::uint64_t skip_to = std::clamp(job.skip_end, skip_from, end);
    if (skip_from > at) {
        if (auto written = m_writer->write(at, piece.first(skip_from - at)); !written)
            return written;
    }
    if (skip_to == end) return {};
    return m_writer->write(skip_to, piece.subspan(skip_to - at));
}

std::string SplitDownload::changed_since(const http::ResponseHead& head) const {
    const std::uint64_t length = *m_meta.content_length;
    const auto total = head.status == 206
                           ? content_range_total(head.find("Content-Range").value_or(""))
                           : head.content_length;
    if (total && *total != length)
        return fmt::format("its length is now {} bytes, not {}", *total, length);
    if (const auto etag = head.find("ETag"); etag && !m_meta.etag.empty() && *etag != m_meta.etag)
        return fmt::format("its ETag is now {}, not {}", *etag, m_meta.etag);
    if (const auto modified = head.find("Last-Modified");
        modified && !m_meta.last_modified.empty() && *modified != m_meta.last_modified)
        return fmt::format("its Last-Modified is now {}, not {}", *modified, m_meta.last_modified);
    return {};
}

Status SplitDownload::decide_to_fall_back(std::string_view why) {
    m_fall_back = true;
    m_observer.on_note(
        fmt::format("{} {}; downloading over one connection", m_options.url.shown, why));
    return fail(ErrorKind::generic, "falling back to one connection");
}

Status SplitDownload::on_response(Job& job, const http::ResponseHead& head) {
    if (head.is_http() && head.status >= 400) return {}; // the engine fails the transfer
    if (stopping()) return fail(ErrorKind::generic, "the download is starting over");
    if (job.probe) {
        if (const std::string why = why_not_split(head); !why.empty()) {
            return decide_to_fall_back(fmt::format("cannot be split: {}", why));
        }
        m_meta.etag = std::string(head.find("ETag").value_or(""));
        m_meta.last_modified = std::string(head.find("Last-Modified").value_or(""));
        m_meta.content_length = head.content_length;
        m_meta.part = m_output->identity();
        m_plan.emplace(*head.content_length);
        m_plan->at(0).busy = true;
        m_head = head;
        m_last_modified = head.last_modified;
        // The blocks of the whole file at once: the segments' writes do not fragment it. The
        // size stays what was written (the map, not the size, says what is there).
        (void)::fallocate(m_output->fd(), FALLOC_FL_KEEP_SIZE, 0,
                          static_cast<off_t>(*head.content_length));
        if (auto written = write_meta(false); !written) return written;
        m_observer.on_start(m_output->path(), m_plan->length(), 0);
        return {};
    }
    if (const std::string change = changed_since(head); !change.empty()) {
        m_fresh_start = true;
        m_observer.on_note(fmt::format("{} changed on the server while its segments were "
                                       "fetched ({}); starting over",
                                       m_options.url.shown, change));
        return fail(ErrorKind::protocol, "the file changed on the server");
    }
    if (!head.resumed) {
        return decide_to_fall_back("answered a range request with the whole file");
    }
    if (!m_head) {
        m_head = head;
        m_last_modified = head.last_modified;
    }
    return {};
}

Status SplitDownload::on_body(Job& job, std::span<const char> chunk) {
    if (stopping() || !m_plan) return fail(ErrorKind::generic, "the download is starting over");
    if (job.dismissed) return fail(ErrorKind::generic, "one connection fewer");
    auto& part = m_plan->at(job.segment);
    const std::uint64_t at = job.segment + part.done;
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), part.end - at));
    if (auto written = write_unless_there(job, at, chunk.first(take)); !written) return written;
    part.done += take;
    if (!job.flow) {
        job.flow = Clock::now();
        if (job.probe) m_first_wait = *job.flow - job.started;
    }
    if (at + take == part.end) {
        job.reached_end = true;
        // The segment was shortened by a split after its request: the rest is another's.
        if (take < chunk.size()) return fail(ErrorKind::generic, "the segment is complete");
    }
    return {};
}

void SplitDownload::conclude(Job& job, http::TransferResult result) {
    if ((!job.probe || m_plan) && !job.gave_back) m_plan->at(job.segment).busy = false;
    if (stopping() || job.reached_end || job.dismissed) return;
    if (job.probe && !m_plan) {
        // The first answer never came: the download in order tells every failure the usual way
        // (and retries it).
        if (!result && result.error().cause != http::FailureCause::interrupted) m_fall_back = true;
        return;
    }
    http::TransferError failure;
    if (result) {
        failure.error = Error{ErrorKind::network,
                              fmt::format("{}: the range from byte {} ended at byte {} of {}",
                                          m_options.url.shown, job.request.resume_from,
                                          job.segment + m_plan->at(job.segment).done,
                                          m_plan->at(job.segment).end)};
        failure.cause = http::FailureCause::partial;
    } else {
        failure = std::move(result.error());
    }
    if (stop_requested() || failure.cause == http::FailureCause::interrupted) return;
    int& retries = m_retries[job.segment];
    const auto delay = http::retry_delay(m_options.retry, retries + 1, failure,
                                         std::chrono::system_clock::now(), http::random_jitter());
    if (!delay) {
        m_failure = std::move(failure.error);
        return;
    }
    ++retries;
    m_observer.on_retry(retries, m_options.retry.max_retries, *delay, failure.error);
    m_plan->at(job.segment).not_before = Clock::now() + *delay;
}

void SplitDownload::stop_all() {
    m_multi.reset(); // lets go of every transfer before their sinks go
    m_jobs.clear();
    m_multi = http::make_multi_engine(
        {m_options.split == 0 ? 1 : m_options.split, m_options.transfer.limit_rate});
    if (!m_plan) return;
    // Every segment is idle now.
    for (std::uint64_t start = 0; start < m_plan->length(); start = m_plan->at(start).end)
        m_plan->at(start).busy = false;
}

Status SplitDownload::write_meta(bool data_first) {
    // The map may only count bytes that are in the file.
    if (auto drained = m_writer->drain(); !drained) return drained;
    if (m_options.sync && data_first) (void)::fdatasync(m_output->fd());
    m_meta.segments = m_plan->to_meta();
    m_meta_written = Clock::now();
    m_output->sidecar_written(); // so that commit() removes it
    return write_part_meta(m_output->dir_fd(), m_output->part_name(), m_meta, m_output->part_path(),
                           m_options.sync);
}

// The .part stays for --continue, its sidecar saying which bytes it holds.
void SplitDownload::keep_part() {
    if (m_plan && m_output && !m_output->direct()) (void)write_meta(true);
}

Result<RetrieveResult> SplitDownload::fall_back() {
    m_multi.reset();
    m_jobs.clear();
    m_writer.reset(); // its last writes land before the file goes
    // Nothing of ours is worth keeping: the download in order starts its own .part.
    m_output->discard();
    m_output.reset();
    return retrieve_in_order(m_options, m_engine, m_observer);
}

Result<RetrieveResult> SplitDownload::finish() {
    RetrieveResult result;
    result.url = m_head && !m_head->url.empty() ? m_head->url : m_options.url.shown;
    if (m_head) result.head = *m_head;
    if (auto drained = m_writer->drain(); !drained) return tl::unexpected(drained.error());
    std::optional<Digest> sha256;
    std::optional<Digest> check;
    if (m_options.sha256) sha256.emplace(Digest::create("sha256").value());
    if (m_options.checksum) check.emplace(Digest::create(m_options.checksum->algorithm).value());
    if (sha256 || check) {
        // The bytes arrived out of order: the digest reads them back in order, through the
        // .part's own descriptor (reopened for reading: no name is looked up again).
        const std::string self = fmt::format("/proc/self/fd/{}", m_output->fd());
        UniqueFd reader(::open(self.c_str(), O_RDONLY | O_CLOEXEC));
        if (!reader) {
            const int err = errno;
            return fail_errno(
                ErrorKind::file_io, err,
                fmt::format("cannot read {} back: {}", m_output->part_path(), errno_text(err)));
        }
        std::vector<char> buffer(1024 * 1024);
        for (std::uint64_t at = 0; at < m_plan->length();) {
            const ssize_t n =
                ::pread(reader.get(), buffer.data(), buffer.size(), static_cast<off_t>(at));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                const int err = n < 0 ? errno : EIO;
                return fail_errno(
                    ErrorKind::file_io, err,
                    fmt::format("cannot read {} back: {}", m_output->part_path(), errno_text(err)));
            }
            const std::span<const char> piece(buffer.data(), static_cast<std::size_t>(n));
            if (sha256) sha256->update(piece);
            if (check) check->update(piece);
            at += static_cast<std::uint64_t>(n);
        }
    }
    if (sha256) result.sha256 = sha256->hex();
    if (check && check->hex() != m_options.checksum->hex) {
        m_output->discard();
        return fail(ErrorKind::checksum,
                    fmt::format("checksum mismatch for {}: expected {} {}, got {}; the download "
                                "was removed",
                                result.url, m_options.checksum->algorithm, m_options.checksum->hex,
                                check->hex()));
    }
    if (auto committed =
            m_output->commit(m_last_modified, m_options.sync, m_options.directory_syncs);
        !committed)
        return tl::unexpected(committed.error());
    result.path = m_output->path();
    result.bytes = m_plan->length();
    result.seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
    return result;
}

Result<RetrieveResult> SplitDownload::run() {
    if (auto opened = open(); !opened) return tl::unexpected(opened.error());
    if (m_output->direct()) {
        // /dev/null, a FIFO: nothing to write at offsets.
        m_output.reset();
        m_observer.on_note(fmt::format("{} is not a regular file, so the download cannot be "
                                       "split; downloading over one connection",
                                       *m_options.file));
        return retrieve_in_order(m_options, m_engine, m_observer);
    }
    m_writer.emplace(m_output->fd(), m_output->part_path(), m_options.sync);
    stop_all(); // makes the engine
    for (;;) {
        if (m_fall_back) return fall_back();
        if (m_failure || m_fresh_start) stop_all();
        if (m_failure) {
            keep_part();
            m_observer.on_end(false);
            return tl::unexpected(std::move(*m_failure));
        }
        if (m_fresh_start) {
            m_fresh_start = false;
            if (++m_fresh_starts > k_max_fresh_starts) {
                m_failure = Error{ErrorKind::protocol,
                                  fmt::format("{}: the download started over {} times (the file "
                                              "keeps changing on the server); try again later",
                                              m_options.url.shown, k_max_fresh_starts)};
                continue;
            }
            if (auto drained = m_writer->drain(); !drained) {
                m_failure = drained.error();
                continue;
            }
            if (auto restarted = m_output->restart(); !restarted) {
                m_failure = restarted.error();
                continue;
            }
            m_plan.reset();
            m_head.reset();
            m_retries.clear();
            // Its windows counted the bytes thrown away.
            m_governor = SplitGovernor(m_options.split, k_window);
        }
        if (stop_requested()) {
            stop_all();
            if (!m_plan) m_output->discard(); // nothing arrived: no .part to continue
            keep_part();
            m_observer.on_end(false);
            return fail(ErrorKind::interrupted, "interrupted");
        }
        if (m_plan && m_plan->complete() && m_jobs.empty()) {
            m_observer.on_progress(m_plan->length(), m_plan->length());
            auto result = finish();
            if (!result) keep_part();
            m_observer.on_end(result.has_value());
            return result;
        }
        if (!m_plan && m_jobs.empty()) start(0, true);
        if (m_plan) schedule();
        if (m_jobs.empty()) {
            // Every unfinished segment waits for its retry.
            const auto wake = m_plan->next_wake().value_or(Clock::now());
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                wake - Clock::now() + std::chrono::milliseconds(1));
            (void)util::sleep_unless_stopped(
                std::clamp(wait, std::chrono::milliseconds(1), std::chrono::milliseconds(500)));
            continue;
        }
        for (auto& done : m_multi->run(m_governor.settled() ? k_tick : k_measuring_tick)) {
            auto found = m_jobs.find(done.id);
            if (found == m_jobs.end()) continue;
            std::unique_ptr<Job> job = std::move(found->second);
            m_jobs.erase(found);
            conclude(*job, std::move(done.result));
        }
        if (!m_plan || stopping()) continue;
        std::size_t flowing = 0;
        for (const auto& [id, job] : m_jobs)
            flowing += job->flow ? 1 : 0;
        m_governor.sample(Clock::now(), m_plan->received(), flowing);
        dismiss_extra();
        m_observer.on_progress(m_plan->received(), m_plan->length());
        if (Clock::now() - m_meta_written >= k_meta_interval) {
            if (auto written = write_meta(true); !written) m_failure = written.error();
        }
    }
}

} // namespace

bool wants_split(const RetrieveOptions& options) {
    if (!options.file || *options.file == "-") return false;
    if (options.split > 1) return true;
    if (!options.resume) return false;
    const auto meta = read_part_meta(*options.file + ".part");
    return meta && !meta->segments.empty();
}

Result<RetrieveResult> retrieve_split(const RetrieveOptions& options, http::TransferEngine& engine,
                                      RetrieveObserver& observer) {
    if (options.resume) {
        const std::string part = *options.file + ".part";
        const auto meta = read_part_meta(part);
        if (::access(part.c_str(), F_OK) == 0 && (!meta || meta->segments.empty())) {
            // Its bytes are the first ones, in order: the download in order knows how to trust
            // them (or not), and continues them.
            observer.on_note(fmt::format("{} was saved in order, not in segments; continuing it "
                                         "over one connection",
                                         part));
            return retrieve_in_order(options, engine, observer);
        }
    }
    SplitDownload download(options, engine, observer);
    return download.run();
}

} // namespace nettool
