#include "retrieve_sink.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fmt/format.h>
#include <nettool/registry.hpp>
#include <nettool/safe_name.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool {
namespace {

// A whole response announced at most this long is held in memory until it is complete and
// its file made only then (AtomicOutputOptions::defer_create): no .part name, lock or rename
// for the small files of a list. Below the writer's buffer, so nothing is written before.
constexpr std::uint64_t k_made_when_complete = 256 * 1024;

bool is_strong_etag(std::string_view etag) {
    return !etag.empty() && etag.rfind("W/", 0) != 0;
}

std::string join(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// The path the final response came from (after redirects), for naming; the request's own
// when the response has none (a fake engine, a body-less success).
const std::string& path_of(const http::ResponseHead& head, const http::Url& requested) {
    return head.path.empty() ? requested.path : head.path;
}

} // namespace

DownloadSink::DownloadSink(const RetrieveOptions& options, RetrieveObserver& observer)
    : m_options(options), m_observer(observer) {
    m_meta.url = options.url.shown;
    m_meta.started = std::time(nullptr);
}

std::string DownloadSink::url_text() const {
    return m_options.url.shown;
}

// The name -N looks at before any response: FILE, or the URL's name in --output-dir.
std::string DownloadSink::local_path_guess() const {
    if (m_options.file) return *m_options.file;
    return join(m_options.output_dir.value_or(""),
                remote_file_name(std::nullopt, m_options.url.path));
}

Status DownloadSink::prepare() {
    if (!m_options.file && !m_options.remote_name) return {}; // temp area: a fresh name
    const std::string path = local_path_guess();
    // Looked at only when something depends on it (-N, or FILE without --force): a -O name
    // may still change with the response, and opening the output checks it then.
    struct stat st {};
    const bool looked = m_options.timestamping || (m_options.file && !m_options.force);
    const bool exists = looked && ::stat(path.c_str(), &st) == 0;
    if (m_options.timestamping && exists && S_ISREG(st.st_mode)) {
        m_local_time =
            std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
    }
    if (m_options.resume) {
        if (!m_options.file) return {}; // -O: the name comes from the response
        AtomicOutputOptions o;
        o.force = m_options.force;
        o.resume = true;
        auto output = AtomicOutput::open(path, o);
        if (!output) return tl::unexpected(output.error());
        m_output.emplace(std::move(*output));
        m_display_name = path;
        if (auto attached = attach_writer(); !attached) return attached;
        if (!m_output->direct() && m_output->size() > 0) return adopt_part();
        return {};
    }
    if (m_options.file && exists && S_ISREG(st.st_mode) && !m_options.force &&
        !m_options.timestamping) {
        return fail(ErrorKind::file_io,
                    fmt::format("{} already exists; use --force to overwrite it", path));
    }
    return {};
}

Status DownloadSink::adopt_part() {
    const AtomicOutput& out = *m_output;
    const auto meta = read_part_meta(out.dir_fd(), out.part_name(), out.part_path());
    const std::string meta_path = part_meta_name(out.part_path());
    std::string doubt;
    bool other_url = false;
    if (!meta) {
        doubt = fmt::format("{} has no readable {} saying where its {} bytes came from",
                            out.part_path(), meta_path, out.size());
    } else if (meta->part.known() && !meta->part.matches(out.identity())) {
        doubt = fmt::format("{} describes another file, not {}", meta_path, out.part_path());
    } else if (!meta->segments.empty()) {
        // Its size is not its bytes in order: only the segmented driver can continue it.
        doubt = fmt::format("{} was saved in segments by --split; continue it with -c and FILE {}",
                            out.part_path(), out.path());
    } else if (meta->url != url_text()) {
        other_url = true;
        doubt = fmt::format("{} holds the first {} bytes of {}, not of {}", out.part_path(),
                            out.size(), meta->url, url_text());
    }
    if (doubt.empty()) {
        m_meta = *meta;
        m_meta.part = out.identity();
        m_total = m_meta.content_length;
        return m_writer->hash_existing();
    }
    if (!m_options.force) {
        return fail(
            ErrorKind::file_io,
            fmt::format("{}; {} to start over", doubt,
                        other_url ? "resume it with that URL, or use --force" : "use --force"));
    }
    if (auto restarted = restart(); !restarted) return restarted;
    m_observer.on_note(fmt::format("{}; starting over (--force)", doubt));
    return {};
}

Status DownloadSink::attach_writer() {
    DownloadWriterOptions o;
    o.sha256 = m_options.sha256;
    if (m_options.checksum) o.checksum = m_options.checksum->algorithm;
    o.sync = m_options.sync;
    m_writer.emplace(*m_output, std::move(o));
    return {};
}

Status DownloadSink::settle(bool failed) {
    if (!m_writer) return {};
    // Every byte is here and none is on disk yet: the rename will record the file, so the
    // sidecar is only written should the .part be kept after all (keep_part()).
    if (!failed && m_total && offset() == *m_total && m_writer->cancel_record())
        m_meta_skipped = !m_meta_written;
    return m_writer->settle(failed);
}

Status DownloadSink::write_meta() {
    auto written = write_part_meta(m_output->dir_fd(), m_output->part_name(), m_meta,
                                   m_output->part_path(), m_options.sync);
    m_output->sidecar_written(); // even a failed write may have left a file behind
    if (written) m_meta_written = true;
    return written;
}

void DownloadSink::keep_part() {
    if (!m_meta_skipped || !m_output || m_committed || m_output->direct()) return;
    if (m_output->pending() && offset() == 0) return; // no byte came: nothing to continue
    if (m_output->nameless()) {
        // A download held in memory (or in a file without a name) becomes NAME.part now.
        if (auto kept = m_output->keep_as_part(); !kept) {
            if (m_output->create_failed()) return; // that failure was the download's
            m_observer.on_warning(fmt::format("the {} bytes of {} received so far are lost: {}",
                                              offset(), url_text(), kept.error().message));
            return;
        }
        m_meta.part = m_output->identity();
    }
    m_meta_skipped = false;
    (void)write_meta(); // without it --continue refuses the .part: safe, only less useful
}

void DownloadSink::before_request() {
    if (offset() == 0 || m_output->direct() || validator()) return;
    // Without a validator for If-Range the server cannot tell us that the resource changed,
    // and a changed one of the same length would be spliced: start over instead.
    const std::uint64_t had = offset();
    if (restart()) {
        m_observer.on_note(fmt::format("{} sent no strong ETag or Last-Modified, so the {} bytes "
                                       "saved cannot be checked against it; starting over",
                                       url_text(), had));
    }
}

std::optional<std::string> DownloadSink::validator() const {
    if (is_strong_etag(m_meta.etag)) return m_meta.etag;
    if (!m_meta.last_modified.empty()) return m_meta.last_modified;
    return std::nullopt;
}

Status DownloadSink::open_in_temp_area(const http::ResponseHead& head) {
    if (!m_area) {
        auto area = TempArea::open(m_options.temp_area);
        if (!area) return tl::unexpected(area.error());
        m_area.emplace(std::move(*area));
    }
    Registry registry(*m_area,
                      [this](const std::string& warning) { m_observer.on_warning(warning); });
    const auto disposition = head.find("Content-Disposition");
    auto output = m_area->create_output(
        remote_file_name(disposition, path_of(head, m_options.url)),
        [&](AtomicOutput& out) -> Status {
            const auto entry = RegistryEntry::for_download(out, url_text(), std::time(nullptr));
            return registry.add(entry, [&out] { return out.publish(); });
        });
    if (!output) return tl::unexpected(output.error());
    m_output.emplace(std::move(*output));
    m_registered = true;
    return attach_writer();
}

Status DownloadSink::open_output(const http::ResponseHead& head) {
    if (!m_options.file && !m_options.remote_name) return open_in_temp_area(head);
    AtomicOutputOptions o;
    o.force = m_options.force || m_options.timestamping; // -N replaces an older copy
    o.final_mode = m_options.final_mode;
    if (!m_options.file) { // -O: NAME is a base name in the output directory
        o.dir_fd = m_options.output_dir_fd;
        o.dir_names = m_options.output_dir_names;
    }
    o.resume = m_options.resume; // -O -c (FILE -c opened its .part before the request)
    o.defer_create = !head.resumed && head.status != 206 && head.content_length &&
                     *head.content_length <= k_made_when_complete;
    std::string path;
    if (m_options.file) {
        path = *m_options.file;
    } else {
        // The name the final response offers, else its URL's; reduced to a safe base name.
        path =
            join(m_options.output_dir.value_or(""),
                 remote_file_name(head.find("Content-Disposition"), path_of(head, m_options.url)));
    }
    auto output = AtomicOutput::open(path, o);
    if (!output) return tl::unexpected(output.error());
    m_output.emplace(std::move(*output));
    if (auto attached = attach_writer(); !attached) return attached;
    if (o.resume && !m_output->direct() && m_output->size() > 0) return adopt_part();
    return {};
}

std::string DownloadSink::changed_since(const http::ResponseHead& head) const {
    const auto total = content_range_total(head.find("Content-Range").value_or(""));
    if (total && m_meta.content_length && *total != *m_meta.content_length) {
        return fmt::format("its length is now {} bytes, not {}", *total, *m_meta.content_length);
    }
    if (const auto etag = head.find("ETag"); etag && !m_meta.etag.empty() && *etag != m_meta.etag)
        return fmt::format("its ETag is now {}, not {}", *etag, m_meta.etag);
    if (const auto modified = head.find("Last-Modified");
        modified && !m_meta.last_modified.empty() && *modified != m_meta.last_modified) {
        return fmt::format("its Last-Modified is now {}, not {}", *modified, m_meta.last_modified);
    }
    return {};
}

Status DownloadSink::on_response(const http::ResponseHead& head) {
    if (head.status == 304) {
        m_not_modified = true;
        return {};
    }
    if (head.is_http() && head.status >= 400) {
        // The engine fails the transfer; a 416 may still tell the resource's size.
        if (head.status == 416) {
            if (auto total = content_range_total(head.find("Content-Range").value_or("")))
                m_total = total;
        }
        return {};
    }
    m_request_offset = offset();
    if (!m_output) {
        if (auto opened = open_output(head); !opened) return opened;
        m_display_name = m_output->path();
        if (offset() > m_request_offset) {
            // -O -c: the name this response gives has a .part to continue, but the response
            // starts at byte 0; ask again for the rest.
            m_rerequest = true;
            return fail(ErrorKind::generic, fmt::format("{}: continuing {} from byte {}", head.url,
                                                        m_output->part_path(), offset()));
        }
    }
    if (m_request_offset > 0 && !head.resumed) {
        // A range request answered with the whole body: the server cannot resume, or the
        // resource changed (If-Range). Never splice: start over.
        if (auto restarted = restart(); !restarted) {
            return fail(ErrorKind::protocol,
                        fmt::format("{}: the server cannot resume the transfer and sent it whole "
                                    "again; {}",
                                    head.url, restarted.error().message));
        }
        m_observer.on_note(fmt::format("{} answered the range request with the whole file (it "
                                       "cannot resume, or the file changed); starting over",
                                       head.url));
    }
    if (head.resumed) {
        // A tail of another version of the resource (a server that ignores If-Range, or
        // none to send): throw the bytes away and ask for the whole new file.
        if (const std::string change = changed_since(head); !change.empty()) {
            if (auto restarted = restart(); !restarted) {
                return fail(ErrorKind::protocol,
                            fmt::format("{} changed on the server ({}); {}", head.url, change,
                                        restarted.error().message));
            }
            m_observer.on_note(fmt::format("{} changed on the server since the first {} bytes "
                                           "were saved ({}); starting over",
                                           head.url, m_request_offset, change));
            m_rerequest = true;
            return fail(ErrorKind::protocol,
                        fmt::format("{} changed on the server ({})", head.url, change));
        }
    }
    // Validators and the full size, for the next retry and for --continue.
    const std::string etag(head.find("ETag").value_or(""));
    const std::string last_modified(head.find("Last-Modified").value_or(""));
    const auto range_total = content_range_total(head.find("Content-Range").value_or(""));
    if (!head.resumed) {
        m_meta.etag = etag;
        m_meta.last_modified = last_modified;
        m_meta.content_length = head.status == 206 ? range_total : head.content_length;
    } else {
        if (m_meta.etag.empty()) m_meta.etag = etag;
        if (m_meta.last_modified.empty()) m_meta.last_modified = last_modified;
        if (range_total) m_meta.content_length = range_total;
    }
    m_total = m_meta.content_length;
    if (head.last_modified) m_last_modified = head.last_modified;
    if (m_output->nameless()) {
        // Its file is made when the bytes are all here, without a name (or was made so by an
        // earlier attempt); keep_part() names it and writes the sidecar should it be kept
        // unfinished.
        m_meta_skipped = true;
    } else if (!m_output->direct()) {
        m_meta.part = m_output->identity();
        if (offset() > 0 || m_meta_written || !m_options.sidecar_on_first_write) {
            if (auto written = write_meta(); !written) return written;
        } else {
            // Written by the writer thread before the first bytes: the transfer goes on
            // meanwhile, and a download that is complete before then needs none (settle()).
            m_writer->record_before_first_write([this] { return write_meta(); });
        }
    }
    if (m_total) m_writer->preallocate(*m_total);
    m_observer.on_start(m_display_name, m_total, offset());
    return {};
}

Status DownloadSink::on_body(std::span<const char> chunk) {
    if (!m_output) return fail(ErrorKind::protocol, "a response body arrived before its headers");
    if (m_total && offset() + chunk.size() > *m_total) {
        return fail(ErrorKind::protocol,
                    fmt::format("{}: the server sent more than the {} bytes it announced",
                                url_text(), *m_total));
    }
    return m_writer->write(chunk);
}

void DownloadSink::on_progress(std::uint64_t done, std::optional<std::uint64_t> /*total*/) {
    m_observer.on_progress(m_request_offset + done, m_total);
}

Status DownloadSink::restart() {
    if (!m_output) return {};
    if (auto restarted = m_writer->restart(); !restarted) return restarted;
    m_request_offset = 0;
    return {};
}

std::optional<http::TransferError> DownloadSink::incomplete() const {
    if (!m_writer || !m_total || offset() == *m_total) return std::nullopt;
    http::TransferError failure;
    if (offset() < *m_total) {
        failure.error =
            Error{ErrorKind::network, fmt::format("{}: the transfer ended at byte {} of {}",
                                                  url_text(), offset(), *m_total)};
        failure.cause = http::FailureCause::partial;
    } else {
        failure.error = Error{ErrorKind::protocol,
                              fmt::format("{}: {} bytes arrived, more than the {} announced",
                                          url_text(), offset(), *m_total)};
        failure.cause = http::FailureCause::protocol;
    }
    return failure;
}

Result<RetrieveResult> DownloadSink::finish(const http::ResponseHead& head) {
    RetrieveResult result;
    result.url = head.url.empty() ? m_options.url.shown : head.url;
    result.head = head;
    if (!m_output) {
        // A body-less success (an empty file: URL, say): still create the file.
        if (auto opened = open_output(head); !opened) return tl::unexpected(opened.error());
    }
    if (auto settled = m_writer->settle(); !settled) return tl::unexpected(settled.error());
    result.sha256 = m_writer->sha256_hex();
    if (m_options.checksum) {
        const std::string got = m_writer->checksum_hex();
        if (got != m_options.checksum->hex) {
            m_output->discard();
            m_meta_skipped = false; // nothing is kept
            return fail(
                ErrorKind::checksum,
                fmt::format("checksum mismatch for {}: expected {} {}, got {}; the download was "
                            "removed",
                            result.url, m_options.checksum->algorithm, m_options.checksum->hex,
                            got));
        }
    }
    if (auto committed =
            m_output->commit(m_last_modified, m_options.sync, m_options.directory_syncs);
        !committed)
        return tl::unexpected(committed.error());
    m_committed = true;
    if (m_registered) {
        Registry registry(*m_area,
                          [this](const std::string& warning) { m_observer.on_warning(warning); });
        if (auto marked = registry.mark_complete(m_output->name()); !marked)
            return tl::unexpected(marked.error());
    }
    result.path = m_output->path();
    result.bytes = offset();
    return result;
}

Result<RetrieveResult> DownloadSink::finish_not_modified(const http::ResponseHead& head) {
    RetrieveResult result;
    result.url = head.url.empty() ? m_options.url.shown : head.url;
    result.head = head;
    result.path = local_path_guess();
    result.not_modified = true;
    // The local copy is the result: its size, and its hash for --json.
    FILE* file = std::fopen(result.path.c_str(), "rb");
    if (file != nullptr) {
        std::optional<Digest> sha256;
        if (m_options.sha256) sha256.emplace(Digest::create("sha256").value());
        char buffer[65536];
        std::size_t n = 0;
        while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
            if (sha256) sha256->update({buffer, n});
            result.bytes += n;
        }
        std::fclose(file);
        if (sha256) result.sha256 = sha256->hex();
    }
    return result;
}

void DownloadSink::abandon() {
    if (!m_registered || m_committed || !m_output) return;
    const std::string name = m_output->name();
    if (m_writer) (void)m_writer->settle(true); // the writer thread lets go of the file first
    m_output->discard();
    // When this fails too the entry names a file that is gone: clean forgets it.
    (void)Registry(*m_area, [this](const std::string& warning) {
        m_observer.on_warning(warning);
    }).forget(name);
}

} // namespace nettool
