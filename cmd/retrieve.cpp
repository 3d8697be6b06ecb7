// nettool retrieve URL [FILE]: urlretrieve from a shell (nettool-retrieve(1)).
#include "app.hpp"
#include "common_options.hpp"
#include "help.hpp"
#include "http_options.hpp"
#include "json_lines.hpp"
#include "messages.hpp"
#include "progress.hpp"
#include "retrieve_many.hpp"

#include <charconv>
#include <cstdio>
#include <fmt/format.h>
#include <nettool/http/url.hpp>
#include <nettool/retrieve.hpp>
#include <nettool/temp_area.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace nettool::cli {
namespace {

struct RetrieveCliOptions {
    RetrieveOptions core;
    std::optional<std::string> list; // -i
    std::size_t jobs = 4;
    std::optional<std::string> file;
    bool headers = false;
    int retries = 3;
    std::optional<ProgressStyle> progress;
    OutputOptions output;
};

Json headers_object(const http::ResponseHead& head) {
    Json headers = Json::object();
    for (const auto& header : head.headers) {
        auto& slot = headers[header.name];
        slot = slot.is_null() ? Json(header.value)
                              : Json(slot.get<std::string>() + ", " + header.value);
    }
    return headers;
}

// With FILE '-' the data is all that goes to stdout; the path, the headers and the JSON
// object (errors included, see app.cpp) go to stderr then.
std::FILE* result_stream(const RetrieveCliOptions& options) {
    return options.file && *options.file == "-" ? stderr : stdout;
}

int print_result(const RetrieveCliOptions& options, const RetrieveResult& result) {
    std::FILE* out = result_stream(options);
    if (options.output.json) {
        if (!write_json_line(out, saved_json(result)))
            return report(Error{ErrorKind::file_io, "cannot write the result to standard output"});
    } else {
        // The path is printed as it is: scripts take it from here (f=$(nettool retrieve URL)),
        // and names nettool makes never hold control characters. --headers is data too.
        std::string text;
        if (out == stdout) text = result.path + "\n";
        if (options.headers) text += result.head.raw;
        if (std::fwrite(text.data(), 1, text.size(), out) != text.size() || std::fflush(out) != 0)
            return report(
                Error{ErrorKind::file_io, "cannot write the saved path to standard output"});
    }
    if (result.not_modified && options.output.verbose)
        print_note(fmt::format("{} is up to date; not downloaded", result.path));
    return exit_status({});
}

} // namespace

Json saved_json(const RetrieveResult& result) {
    return {{"event", result.not_modified ? "not_modified" : "saved"},
            {"url", result.url},
            {"path", result.path},
            {"status", result.head.status},
            {"headers", headers_object(result.head)},
            {"bytes", result.bytes},
            {"sha256", result.sha256},
            {"seconds", result.seconds}};
}

namespace {

// A directory the download is saved into must exist and take new files, checked before the
// first request so that a typo costs no transfer. `what` names the option to change.
Status check_directory(const std::string& dir, std::string_view what) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        return fail(ErrorKind::file_io, fmt::format("cannot save into {}: {}; create it or choose "
                                                    "another {}",
                                                    dir, errno_text(errno), what));
    }
    if (!S_ISDIR(st.st_mode)) {
        return fail(ErrorKind::file_io,
                    fmt::format("cannot save into {}: it is not a directory; choose another {}",
                                dir, what));
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        return fail(ErrorKind::file_io, fmt::format("cannot save into {}: {}; choose another {}",
                                                    dir, errno_text(errno), what));
    }
    return {};
}

} // namespace

Status check_retrieve_target(const std::optional<std::string>& target, bool remote_name,
                             const std::optional<std::string>& output_dir) {
    if (target) {
        const std::string& file = *target;
        if (file == "-") return {};
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                return fail(ErrorKind::file_io,
                            fmt::format("{} is a directory; give a file name in it, or use -O "
                                        "--output-dir {}",
                                        file, file));
            }
            // /dev/null, a FIFO: written directly, its directory does not matter.
            if (!S_ISREG(st.st_mode)) return {};
        }
        const auto slash = file.rfind('/');
        const std::string dir = slash == std::string::npos ? "."
                                : slash == 0               ? "/"
                                                           : file.substr(0, slash);
        return check_directory(dir, "FILE");
    }
    if (remote_name) return check_directory(output_dir.value_or("."), "--output-dir");
    return {}; // the temp area is made and checked by core
}

namespace {

int run_retrieve(RetrieveCliOptions& options) {
    auto& core = options.core;
    core.file = options.file;
    core.retry.max_retries = options.retries;
    core.temp_area = default_temp_area_path();
    core.sha256 = options.output.json; // the JSON object carries it; nothing else needs it
    if (auto checked = check_retrieve_target(options.file, core.remote_name, core.output_dir);
        !checked)
        return report(checked.error());
    if (auto completed = complete_http_options(core.transfer, options.output.quiet); !completed) {
        return exit_status(completed);
    }
    ProgressDisplay progress(choose_progress_style(options.progress, options.output),
                             options.output, core.url.shown);
    auto engine = http::make_transfer_engine();
    auto result = retrieve(core, *engine, progress);
    if (!result) return report(result.error());
    if (options.output.verbose) {
        print_note(fmt::format("{} bytes from {} in {:.2f} s", result->bytes, result->url,
                               result->seconds));
    }
    return print_result(options, *result);
}

} // namespace

void add_retrieve(CLI::App& app, Action& action) {
    auto* sub = app.add_subcommand("retrieve",
                                   "Save a URL to a file (urlretrieve): FILE, a remote-supplied "
                                   "safe name (-O), or the private temp area.");
    auto options = std::make_shared<RetrieveCliOptions>();
    auto& core = options->core;
    // The sections of nettool-retrieve(1); the shared HTTP options add theirs.
    constexpr const char* output = k_output_section;
    const char* transfer = http_sections(HttpOptionStyle::retrieve).connection;

    auto* url_operand = sub->add_option_function<std::string>(
        "URL",
        [&core](const std::string& text) {
            auto url = http::parse_url(text);
            if (!url) throw_parse_failure(url.error());
            core.url = *url;
        },
        "The URL; without a scheme it is http:// (or -i LIST)");
    auto* file =
        sub->add_option("FILE", options->file,
                        "Save here ('-': stdout); without FILE or -O: the temp area (see clean)");
    constexpr const char* many_urls = "Many URLs";
    auto* input = sub->add_option("-i,--input-file", options->list,
                                  "Download every URL of LIST ('-': stdin), a line is URL or URL "
                                  "FILE; one result line per URL")
                      ->type_name("LIST")
                      ->excludes(url_operand)
                      ->excludes(file)
                      ->group(many_urls);
    sub->add_option("-j,--jobs", options->jobs,
                    "With -i: N downloads at once over at most N connections (default 4)")
        ->type_name("N")
        ->check(CLI::Range(1, 256))
        ->needs(input)
        ->group(many_urls);
    auto* remote =
        sub->add_flag("-O,--remote-name", core.remote_name,
                      "Name the file after Content-Disposition or the URL path (a safe base name)")
            ->excludes(file)
            ->group(output);
    sub->add_option_function<std::string>(
           "--output-dir", [&core](const std::string& dir) { core.output_dir = dir; },
           "With -O: save into DIR (default: the current directory)")
        ->type_name("DIR")
        ->needs(remote)
        ->group(output);
    sub->add_flag("--force", core.force,
                  "Replace an existing file (and start over an existing .part)")
        ->group(output);
    auto* resume =
        sub->add_flag("-c,--continue", core.resume,
                      "Resume NAME.part with a range request (If-Range); starts over when the "
                      "server cannot resume")
            ->group(output);
    auto* newer =
        sub->add_flag("-N,--timestamping", core.timestamping,
                      "Download only when the server's copy is newer than FILE (If-Modified-Since)")
            ->group(output);
    sub->add_option(
           "--retry", options->retries,
           "Retry transient failures up to N times (default 3), resuming from the bytes received")
        ->type_name("N")
        ->check(CLI::Range(0, 100))
        ->group(transfer);
    sub->add_option_function<std::string>(
           "--checksum",
           [&core](const std::string& text) {
               auto spec = parse_checksum(text);
               if (!spec) throw CLI::ValidationError(spec.error().message);
               core.checksum = *spec;
           },
           "Verify the download before naming it: sha256:HEX (or sha512, sha1, md5); mismatch: "
           "exit 9")
        ->type_name("ALGO:HEX")
        ->group(output);
    sub->add_flag_function(
           "--no-sync", [&core](std::int64_t) { core.sync = false; },
           "Skip the fsyncs (the rename stays atomic): faster, but a power loss may lose the file")
        ->group(output);
    constexpr const char* segments = "Segments";
    auto* split =
        sub->add_option_function<std::string>(
               "--split",
               [&core](const std::string& text) {
                   std::size_t n = 0;
                   const auto [end, ec] =
                       std::from_chars(text.data(), text.data() + text.size(), n);
                   if (ec != std::errc() || end != text.data() + text.size() || n < 1 ||
                       n > k_max_split_connections) {
                       throw CLI::ValidationError(
                           "--split", fmt::format("'{}' is not a number of connections from 1 "
                                                  "to {}; give one in that range",
                                                  text, k_max_split_connections));
                   }
                   core.split = n;
               },
               "Fetch FILE over up to N connections (at most 16) with range requests, adding "
               "them only while the total rate rises")
            ->type_name("N")
            ->excludes(input)
            ->excludes(newer)
            ->group(segments);
    add_size_option(*sub, "--limit-rate", core.transfer.limit_rate,
                    "Receive at most SIZE bytes per second (with -i: in total)")
        ->group(transfer);
    auto* json =
        sub->add_flag(
               "--json", options->output.json,
               "Print one JSON object (event 'saved'): url, path, status, headers, bytes, sha256, "
               "seconds; with FILE '-' on stderr")
            ->group(output);
    sub->add_flag("--headers", options->headers, "Also print the response headers after the path")
        ->excludes(json)
        ->group(output);
    sub->add_option_function<std::string>(
           "--progress",
           [&progress = options->progress](const std::string& style) {
               progress = style == "bar"    ? ProgressStyle::bar
                          : style == "line" ? ProgressStyle::line
                                            : ProgressStyle::json;
           },
           "Progress on stderr even when it is not a terminal: bar, line or json")
        ->type_name("STYLE")
        ->check(CLI::IsMember({"bar", "line", "json"}))
        ->group(output);
    auto* quiet =
        sub->add_flag("-q,--quiet", options->output.quiet, "Print nothing but errors and the path")
            ->group(output);
    sub->add_flag("-v,--verbose", options->output.verbose, "Print more detail")
        ->excludes(quiet)
        ->group(output);
    add_http_options(*sub, core.transfer, HttpOptionStyle::retrieve);
    set_help_footer(
        *sub,
        {{"Save into the temp area and use the path",
          "f=$(nettool retrieve https://example.org/data.csv)"},
         {"Resume an interrupted download", "nettool retrieve -c https://example.org/b.iso b.iso"},
         {"Many URLs, 8 at once, named by the server (a line is URL or URL FILE)",
          "nettool retrieve -j 8 -O --output-dir isos -i list.txt"}},
        {"Exit status: 0 saved (or up to date with -N), 2 usage, 3 file, 4 network, 5 TLS, 6 "
         "auth, 7 protocol, 8 HTTP error, 9 checksum mismatch, 130 interrupted (NAME.part "
         "kept); with -i the most severe of all lines. See nettool-retrieve(1)."});

    sub->callback([options, resume, newer, url_operand, split, &action] {
        if (options->list) {
            if (options->progress == ProgressStyle::bar) {
                throw CLI::ValidationError("--progress",
                                           "bar is for one URL (with -i a terminal shows a line "
                                           "per download by itself); use line or json");
            }
            action = [options] {
                RetrieveManyCli many;
                many.list = *options->list;
                many.jobs = options->jobs;
                many.settings = options->core;
                many.settings.retry.max_retries = options->retries;
                many.settings.temp_area = default_temp_area_path();
                many.settings.sha256 = options->output.json;
                many.headers = options->headers;
                many.progress = options->progress;
                many.output = &options->output;
                if (auto completed =
                        complete_http_options(many.settings.transfer, options->output.quiet);
                    !completed) {
                    return exit_status(completed);
                }
                return run_retrieve_many(many);
            };
            return;
        }
        if (url_operand->count() == 0) throw CLI::RequiredError("URL");
        const bool named = options->file.has_value() || options->core.remote_name;
        if (!named && resume->count() > 0) {
            throw CLI::ValidationError(
                "--continue", "needs FILE or -O: a temp-area download has no earlier part");
        }
        if (split->count() > 0 && !options->file) {
            throw CLI::ValidationError("--split", "needs FILE: the segments are written into "
                                                  "FILE.part, whose name must be known first");
        }
        if (split->count() > 0 && *options->file == "-") {
            throw CLI::ValidationError("--split", "cannot write standard output at offsets; "
                                                  "give a FILE");
        }
        if (!named && newer->count() > 0) {
            throw CLI::ValidationError("--timestamping",
                                       "needs FILE or -O: there is no local copy to compare");
        }
        action = [options] { return run_retrieve(*options); };
    });
}

} // namespace nettool::cli
