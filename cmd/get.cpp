// nettool get URL: urlopen from a shell (nettool-get(1)).
#include "app.hpp"
#include "common_options.hpp"
#include "help.hpp"
#include "http_options.hpp"
#include "http_trace.hpp"
#include "messages.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <nettool/get.hpp>
#include <nettool/http/url.hpp>

namespace nettool::cli {
namespace {

struct GetOptions {
    GetRequest request;
    std::vector<std::string> data;         // -d, joined with '&' like curl
    std::optional<std::string> trace_path; // --trace-ascii FILE
    OutputOptions output;
};

// Human notes on stderr: retries always (unless -q), the redirect chain and summary with -v.
class GetTextObserver final : public GetObserver {
  public:
    explicit GetTextObserver(const OutputOptions& output) : m_output(output) {}

    void on_redirect(const http::ResponseHead& head) override {
        if (!m_output.verbose) return;
        print_note(fmt::format("{} {} {} -> {}", head.protocol, head.status, head.reason,
                               head.find("Location").value_or("(no Location)")));
    }
    void on_response(const http::ResponseHead& head) override {
        if (!m_output.verbose || !head.is_http()) return;
        print_note(
            fmt::format("{} {} {} from {}", head.protocol, head.status, head.reason, head.url));
    }
    void on_retry(int retry, int max_retries, std::chrono::milliseconds delay,
                  const Error& error) override {
        if (m_output.quiet) return;
        print_warning(fmt::format("retrying in {:.1f} s (retry {} of {}) after: {}",
                                  static_cast<double>(delay.count()) / 1000.0, retry, max_retries,
                                  error.message));
    }
    void on_output_closed() override {
        if (m_output.verbose)
            print_note("the output was closed by its reader; stopped the transfer");
    }
    void on_done(const http::TransferOutcome& outcome) override {
        if (!m_output.verbose) return;
        print_note(fmt::format("{} bytes, {} redirect(s)", outcome.body_bytes, outcome.redirects));
    }

  private:
    const OutputOptions& m_output;
};

// -v: the header lines on stderr as they cross the wire, one write per block so that they
// never interleave with a note.
void write_header_trace(http::TraceKind kind, std::string_view bytes) {
    std::string lines;
    if (kind == http::TraceKind::header_out) lines = header_trace_lines("> ", bytes);
    if (kind == http::TraceKind::header_in) lines = header_trace_lines("< ", bytes);
    if (lines.empty()) return;
    std::fwrite(lines.data(), 1, lines.size(), stderr);
    std::fflush(stderr);
}

// The action: -v's header lines and --trace-ascii's file hooked into the transfer, then get().
int run_get(GetOptions& options) {
    auto& transfer_options = options.request.request.options;
    if (!options.data.empty()) {
        std::string joined;
        for (const auto& part : options.data)
            joined += (joined.empty() ? "" : "&") + part;
        transfer_options.data = joined;
    }
    std::optional<TraceFile> trace_file;
    if (options.trace_path) {
        auto opened = TraceFile::open(*options.trace_path);
        if (!opened) return report(opened.error());
        trace_file.emplace(std::move(*opened));
    }
    if (auto st = complete_http_options(transfer_options, options.output.quiet); !st)
        return exit_status(st);
    const bool verbose = options.output.verbose;
    if (verbose || trace_file) {
        transfer_options.trace = [verbose, &trace_file](http::TraceKind kind,
                                                        std::string_view bytes) {
            if (verbose) write_header_trace(kind, bytes);
            if (trace_file) trace_file->write(kind, bytes);
        };
    }
    GetTextObserver observer(options.output);
    auto engine = http::make_transfer_engine();
    const Status status = get(options.request, *engine, observer);
    if (trace_file) {
        if (auto finished = trace_file->finish(); !finished && status)
            return report(finished.error());
    }
    return exit_status(status);
}

} // namespace

void add_get(CLI::App& app, Action& action) {
    auto* sub = app.add_subcommand(
        "get", "Stream a URL's body to stdout (urlopen): http, https, ftp, file.");
    auto options = std::make_shared<GetOptions>();
    auto& request = options->request;
    auto& transfer = request.request.options;
    // The sections of nettool-get(1); the shared HTTP options add theirs.
    constexpr const char* output = k_output_section;
    const HttpSections sections = http_sections(HttpOptionStyle::get);

    sub->add_option_function<std::string>(
           "URL",
           [&request](const std::string& text) {
               auto url = http::parse_url(text);
               if (!url) throw_parse_failure(url.error());
               request.request.url = *url;
           },
           "The URL; without a scheme it is http://")
        ->required();

    auto* include =
        sub->add_flag("-i,--include", request.include_headers,
                      "Print the response headers (of every redirect too) before the body")
            ->group(output);
    sub->add_flag("-I,--head", request.request.head_only,
                  "Send a HEAD request and print the headers only")
        ->excludes(include)
        ->group(output);
    sub->add_option_function<std::string>(
           "-D,--dump-header",
           [&request](const std::string& path) { request.dump_header_path = path; },
           "Write the response headers into FILE ('-': stdout)")
        ->type_name("FILE")
        ->group(output);
    sub->add_flag("--ignore-status", transfer.ignore_status,
                  "Print the body of an HTTP error response (status >= 400) and exit 0")
        ->group(output);
    add_output_options(*sub, options->output, false);
    sub->get_option("--verbose")
        ->description("Also print the request and response headers (> sent, < received; "
                      "credentials redacted), redirects and the byte count");
    sub->add_option_function<std::string>(
           "--trace-ascii",
           [&trace = options->trace_path](const std::string& path) { trace = path; },
           "Write the whole exchange, headers and bodies both ways, into FILE ('-': stdout; "
           "unredacted, mode 0600)")
        ->type_name("FILE")
        ->group(output);

    sub->add_option_function<std::string>(
           "-X,--request",
           [&transfer](const std::string& method) {
               const bool token =
                   !method.empty() &&
                   method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789!#$%&'*+-.^_`|~") == std::string::npos;
               if (!token)
                   throw CLI::ValidationError("--request",
                                              fmt::format("'{}' is not an HTTP method", method));
               transfer.method = method;
           },
           "Use this request method (GET, POST, PUT, DELETE ...)")
        ->type_name("METHOD")
        ->group(sections.request);
    auto* data =
        sub->add_option(
               "-d,--data", options->data,
               "Send DATA as the request body (POST unless -X); repeated -d are joined with '&'")
            ->type_name("DATA")
            ->allow_extra_args(false) // one value per -d, as with -H
            ->group(sections.request);
    sub->add_option_function<std::string>(
           "--data-binary",
           [&transfer](const std::string& text) {
               if (text.starts_with('@')) {
                   if (text.size() == 1)
                       throw CLI::ValidationError("--data-binary", "write @FILE, or @- for stdin");
                   transfer.data_file = text.substr(1);
               } else {
                   transfer.data = text;
               }
           },
           "Send the bytes of FILE (@-: stdin) as the request body, unchanged and streamed")
        ->type_name("@FILE")
        ->excludes(data)
        ->group(sections.request);

    add_http_options(*sub, transfer, HttpOptionStyle::get);
    sub->add_option(
           "--retry", request.retries,
           "Retry transient failures up to N times, only while nothing was written to stdout")
        ->type_name("N")
        ->check(CLI::Range(0, 100))
        ->group(sections.connection);
    set_help_footer(
        *sub,
        {{"Stream a page into a pager", "nettool get https://example.org/ | less"},
         {"See the request and response headers", "nettool get -v https://example.org/ >/dev/null"},
         {"Post a form", "nettool get -d name=value https://example.org/form"}},
        {"To save a URL to a file, use 'nettool retrieve URL FILE'. Exit status: 0 "
         "success, 2 usage, 3 file, 4 network, 5 TLS, 6 auth, 7 protocol, 8 HTTP "
         "error, 130 interrupted. See nettool-get(1)."});

    sub->callback([&action, options] { action = [options] { return run_get(*options); }; });
}

} // namespace nettool::cli
