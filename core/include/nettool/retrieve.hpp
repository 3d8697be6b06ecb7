#pragma once
// `retrieve` (urlretrieve): one URL saved to a file, to a remote-supplied safe name, or into
// the private temp area (recorded for `clean`), through the shared HTTP engine. It asks for
// the identity coding and saves the bytes as sent, so that a range continues exactly the bytes
// on disk. Bytes go to NAME.part and are renamed only when complete and verified
// (atomic_output.hpp); transient failures are retried with the http retry policy, each retry
// resuming from the bytes on disk with Range + If-Range; --continue resumes an earlier
// NAME.part the same way, but only when its sidecar shows it holds bytes of this URL.
#include <chrono>
#include <cstdint>
#include <nettool/digest.hpp>
#include <nettool/directory_sync.hpp>
#include <nettool/error.hpp>
#include <nettool/http/retry_policy.hpp>
#include <nettool/http/transfer.hpp>
#include <optional>
#include <string>
#include <sys/types.h>

namespace nettool {

class DirectoryNames;

struct RetrieveOptions {
    http::Url url;
    std::optional<std::string> file;       // FILE operand ("-" = stdout)
    bool remote_name = false;              // -O: name from Content-Disposition or the URL path
    std::optional<std::string> output_dir; // with -O
    // --output-dir (or .) opened once by the caller (borrowed): -O names are looked up and
    // made in it, never through its path again (retrieve -i: a directory renamed or swapped
    // for a link during the run cannot redirect the files, and no path walk per file).
    int output_dir_fd = -1;
    // That directory's names, read once when the list started (borrowed; may be null): a -O
    // name and its .part that were not there are not looked up again (AtomicOutputOptions).
    const DirectoryNames* output_dir_names = nullptr;
    bool force = false;        // replace an existing file
    bool resume = false;       // -c: continue NAME.part
    bool timestamping = false; // -N: only when newer than the local file
    std::optional<ChecksumSpec> checksum;
    bool sha256 = false; // compute RetrieveResult::sha256 (else it stays empty)
    // fsync NAME.part and its directory before and after the rename; false (--no-sync) keeps
    // the atomic rename but leaves write-back to the kernel: only power-loss durability is lost.
    bool sync = true;
    // Shared by many downloads at once (retrieve -i): their directories' fsyncs are shared.
    DirectorySyncs* directory_syncs = nullptr;
    // The .part's sidecar is written by the writer thread just before the first bytes reach
    // the disk (and not at all for a download complete before then), instead of when the
    // response arrives: retrieve -i, whose transfers must not wait for the disk. A download
    // killed before its first write then leaves an empty .part without a sidecar.
    bool sidecar_on_first_write = false;
    // The mode a named file is saved with (the temp area keeps 0600); unset: 0666 & ~umask,
    // read for each file (retrieve -i reads the umask once for all of them).
    std::optional<mode_t> final_mode;
    // --split N: fetch FILE over up to N connections with range requests, adding them only
    // while they raise the total rate (0 or 1: one connection, in order). -c also continues a
    // FILE.part that an earlier --split left, whatever N is.
    std::size_t split = 0;
    http::RetryPolicy retry;        // max_retries = --retry
    http::TransferOptions transfer; // auth, cookies, headers, TLS, proxy, timeouts, rate
    std::string temp_area;          // default_temp_area_path()
};

// The most connections --split opens for one file: beyond it a server sees a flood, and
// splitting further gains nothing that per-connection limits would allow.
constexpr std::size_t k_max_split_connections = 16;

struct RetrieveResult {
    std::string url;  // the final URL (after redirects)
    std::string path; // where it was saved ("-" for stdout)
    http::ResponseHead head;
    std::uint64_t bytes = 0; // the saved content's size
    std::string sha256;      // when RetrieveOptions::sha256 asked for it
    double seconds = 0;
    bool not_modified = false; // -N and the local file is current: nothing was written
};

// What cmd/ shows while a download runs.
class RetrieveObserver {
  public:
    virtual ~RetrieveObserver() = default;
    // The body is about to arrive: `path` is where it goes ("-" for stdout), `offset` bytes
    // are already there (resume).
    virtual void on_start(const std::string& /*path*/, std::optional<std::uint64_t> /*total*/,
                          std::uint64_t /*offset*/) {}
    // Bytes of the file so far (offset included) and the whole size when known.
    virtual void on_progress(std::uint64_t /*done*/, std::optional<std::uint64_t> /*total*/) {}
    // Something the user should know that is not an error ("starting over: ...").
    virtual void on_note(const std::string& /*message*/) {}
    // Something the user must look at (a damaged temp-area registry was set aside).
    virtual void on_warning(const std::string& message) { on_note(message); }
    // Attempt `retry` of `max` follows after `delay`, because of `why`.
    virtual void on_retry(int /*retry*/, int /*max*/, std::chrono::milliseconds /*delay*/,
                          const Error& /*why*/) {}
    // The transfer ended (successfully or not): a progress display can finish its line.
    virtual void on_end(bool /*success*/) {}
};

Result<RetrieveResult> retrieve(const RetrieveOptions& options, http::TransferEngine& engine,
                                RetrieveObserver& observer);

// "bytes 100-999/1000" -> 1000; nullopt for "*" or garbage.
std::optional<std::uint64_t> content_range_total(std::string_view value);

} // namespace nettool
