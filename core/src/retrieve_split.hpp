#pragma once
// retrieve --split: one file over several connections (core-private). The first request is
// an ordinary GET; when its answer shows the server can send ranges (Accept-Ranges: bytes, a
// length, a validator for If-Range), the file is fetched as segments (split_plan.hpp) over a
// MultiTransferEngine, each written at its offset in NAME.part, the map kept in the sidecar
// for --continue; otherwise the download goes on over one connection in order, with a note.
#include <nettool/http/transfer.hpp>
#include <nettool/retrieve.hpp>
#include <string>

namespace nettool {

// Whether `options` ask for the segmented driver: --split N > 1, or -c of a FILE.part whose
// sidecar holds a segment map.
bool wants_split(const RetrieveOptions& options);

Result<RetrieveResult> retrieve_split(const RetrieveOptions& options, http::TransferEngine& engine,
                                      RetrieveObserver& observer);

// The download in order over `engine` (what retrieve() does without --split).
Result<RetrieveResult> retrieve_in_order(const RetrieveOptions& options,
                                         http::TransferEngine& engine, RetrieveObserver& observer);

} // namespace nettool
