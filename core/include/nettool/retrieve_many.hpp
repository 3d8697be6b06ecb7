#pragma once
// `retrieve -i`: many downloads at once over one MultiTransferEngine. Each one is a complete
// single-URL retrieve (the same RetrieveTransfer: .part and rename, validators, retries that
// resume, checksum, safe names, the temp area); what this adds is the scheduling:
// - at most `jobs` transfers run at once (the engine caps connections at the same number);
// - a download waiting to retry waits alone; a server that asked for a pause (Retry-After,
//   429, 503) holds back the other downloads from its host until then, never other hosts;
// - what follows a transfer (the last writes, the checksum, fsync and rename) runs on a few
//   threads of its own, so a slow disk never stalls the transfers;
// - a failure ends that download only; a stop (stop.hpp) ends every one, .parts kept.
#include <cstddef>
#include <cstdint>
#include <nettool/http/transfer.hpp>
#include <nettool/retrieve.hpp>
#include <optional>
#include <vector>

namespace nettool {

struct RetrieveManyOptions {
    std::size_t jobs = 4;
    std::optional<std::uint64_t> total_rate; // bytes per second over all downloads
};

class RetrieveManyObserver {
  public:
    virtual ~RetrieveManyObserver() = default;
    // The observer of download `index` (progress, notes, retries); called before it starts.
    // Its calls may come from several threads, never two at once for one download.
    virtual RetrieveObserver& observer_for(std::size_t index) = 0;
    // Download `index` ended (saved, or failed with the error); on the caller's thread, as
    // each one ends. Every download ends exactly once, also after a stop.
    virtual void on_done(std::size_t index, const Result<RetrieveResult>& result) = 0;
};

// The engine for retrieve_many(): pooled connections, `options.jobs` of them at most.
std::unique_ptr<http::MultiTransferEngine> make_retrieve_engine(const RetrieveManyOptions& options);

// Runs every download (their options complete, each with its own url and target).
void retrieve_many(const std::vector<RetrieveOptions>& downloads,
                   const RetrieveManyOptions& options, http::MultiTransferEngine& engine,
                   RetrieveManyObserver& observer);

} // namespace nettool
