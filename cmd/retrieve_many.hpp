#pragma once
// retrieve -i LIST: many downloads at once (nettool-retrieve(1), MANY URLS). retrieve.cpp
// declares the options; this file reads the list, runs the downloads and reports each one.
#include "common_options.hpp"
#include "json_lines.hpp"
#include "progress.hpp"

#include <nettool/retrieve.hpp>
#include <optional>
#include <string>

namespace nettool::cli {

struct RetrieveManyCli {
    std::string list;         // -i LIST ("-": standard input)
    std::size_t jobs = 4;     // -j
    RetrieveOptions settings; // everything but url and file, shared by every line
    bool headers = false;
    std::optional<ProgressStyle> progress; // line or json; unasked: the block on a terminal
    const OutputOptions* output = nullptr;
};

int run_retrieve_many(const RetrieveManyCli& options);

// Shared with the single-URL retrieve (retrieve.cpp).
// The saving place must be usable before the first request: FILE's directory, or -O's
// --output-dir (the temp area is checked by core).
Status check_retrieve_target(const std::optional<std::string>& file, bool remote_name,
                             const std::optional<std::string>& output_dir);
// The JSON object of a saved (or, with -N, current) download.
Json saved_json(const RetrieveResult& result);

} // namespace nettool::cli
