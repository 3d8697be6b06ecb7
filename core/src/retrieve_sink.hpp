#pragma once
// The TransferSink of one retrieve: opens the output when the final response arrives (its name
// may come from that response), writes and hashes the body, keeps the URL, validators and
// length in the .part sidecar, and never splices bytes of two resources: a .part of another
// URL or of unknown origin is refused (or, with --force, started over), and a resumed part
// whose length or validators changed starts the download over.
#include "download_writer.hpp"

#include <nettool/atomic_output.hpp>
#include <nettool/digest.hpp>
#include <nettool/part_meta.hpp>
#include <nettool/retrieve.hpp>
#include <nettool/temp_area.hpp>
#include <optional>
#include <string>

namespace nettool {

class DownloadSink final : public http::TransferSink {
  public:
    DownloadSink(const RetrieveOptions& options, RetrieveObserver& observer);

    // Before the first request: -c with FILE opens an existing FILE.part (checks its sidecar,
    // re-hashes it); -N finds the local file's time. Fails early when FILE exists and may not
    // be replaced.
    Status prepare();
    // Before each request: bytes on disk that the server could not check (no strong ETag or
    // Last-Modified for If-Range) are thrown away rather than resumed blindly.
    void before_request();

    Status on_response(const http::ResponseHead& head) override;
    Status on_body(std::span<const char> chunk) override;
    void on_progress(std::uint64_t done, std::optional<std::uint64_t> total) override;

    // After each transfer, failed or not: every byte received is in the file (a write error
    // is returned), the writer and hasher are idle.
    Status settle(bool failed);

    // What the next request asks for.
    std::uint64_t offset() const { return m_writer ? m_writer->size() : 0; }
    std::optional<std::string> validator() const;
    std::optional<std::chrono::system_clock::time_point> local_time() const { return m_local_time; }
    // Throws away the bytes so far (a 416 that does not mean "complete").
    Status restart();
    bool not_modified() const { return m_not_modified; }
    std::optional<std::uint64_t> total() const { return m_total; }
    // True once: the sink stopped the transfer on purpose and wants it made again from
    // offset() (a -O name resolved to a .part to continue, or the resource changed).
    bool take_rerequest() { return std::exchange(m_rerequest, false); }
    // After a transfer that libcurl called complete: the bytes on disk must be the whole
    // resource when its size is known (a 206 may end early; a lying server may claim more).
    std::optional<http::TransferError> incomplete() const;

    // Verify the checksum, set the time, rename into place, mark the temp-area entry complete.
    Result<RetrieveResult> finish(const http::ResponseHead& head);
    // -N and the local file is current.
    Result<RetrieveResult> finish_not_modified(const http::ResponseHead& head);
    // The .part stays for --continue: its sidecar is written now if it was skipped (a
    // download complete before its first write needs none unless it fails after that).
    void keep_part();
    // The download failed: a temp-area download cannot be continued, so its .part and its
    // registry entry go now (other .parts stay for --continue).
    void abandon();

  private:
    Status open_output(const http::ResponseHead& head);
    Status open_in_temp_area(const http::ResponseHead& head);
    // A .part found for --continue: adopt its sidecar when it proves the bytes came from this
    // URL, else refuse (or start over with --force).
    Status adopt_part();
    // Starts the write path for m_output once it is open.
    Status attach_writer();
    std::string changed_since(const http::ResponseHead& head) const;
    // The sidecar of the .part, as m_meta says now.
    Status write_meta();
    std::string local_path_guess() const;
    std::string url_text() const;

    const RetrieveOptions& m_options;
    RetrieveObserver& m_observer;
    std::optional<AtomicOutput> m_output;
    std::optional<DownloadWriter> m_writer; // after m_output: stops before it closes
    std::optional<TempArea> m_area;
    PartMeta m_meta;
    std::uint64_t m_request_offset = 0; // what the current request asked for
    std::optional<std::uint64_t> m_total;
    std::optional<std::chrono::system_clock::time_point> m_local_time;
    std::optional<std::chrono::system_clock::time_point> m_last_modified;
    bool m_not_modified = false;
    bool m_registered = false;
    bool m_rerequest = false;
    bool m_committed = false;
    bool m_meta_written = false; // the sidecar on disk describes the .part
    bool m_meta_skipped = false; // the sidecar was not needed: complete before any write
    std::string m_display_name;
};

} // namespace nettool
