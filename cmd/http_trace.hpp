#pragma once
// get's views of an HTTP exchange (nettool-get(1)): -v writes the request and response
// headers to stderr the way curl -v does ("> " sent, "< " received), each line escaped and the
// values of credentials redacted; --trace-ascii FILE writes the whole exchange, headers and
// bodies both ways, unredacted, in curl's --trace-ascii layout.
#include <cstdio>
#include <nettool/error.hpp>
#include <nettool/http/transfer.hpp>
#include <string>
#include <string_view>

namespace nettool::cli {

// A header line as -v shows it: the value of Authorization and Proxy-Authorization after the
// scheme, the value of each cookie in Cookie and Set-Cookie, and an FTP PASS command's
// password become "[redacted]"; other
// lines are returned unchanged. Names are matched without regard to case.
std::string redact_credentials(std::string_view line);

// The -v lines for one block of headers: each line without its CR LF, redacted, escaped, after
// `prefix` ("> " or "< "), ending with '\n'. Blank lines (the end of a head) are left out.
std::string header_trace_lines(std::string_view prefix, std::string_view block);

// One chunk in curl's --trace-ascii layout: "=> Send header, 78 bytes (0x4e)" and the bytes in
// lines of at most 64, each after its offset ("0000: "), a new line after every CR LF, bytes
// outside printable ASCII as '.'. Notes are "== Info: TEXT".
std::string trace_ascii_chunk(http::TraceKind kind, std::string_view bytes);

// The file --trace-ascii writes; '-' is standard output. Created with mode 0600: it holds
// credentials and cookies as sent.
class TraceFile {
  public:
    static Result<TraceFile> open(const std::string& path);
    TraceFile(TraceFile&& other) noexcept;
    TraceFile& operator=(TraceFile&&) = delete;
    TraceFile(const TraceFile&) = delete;
    ~TraceFile();

    void write(http::TraceKind kind, std::string_view bytes);
    // Flushes (and closes a file); fails when any write failed.
    Status finish();

  private:
    TraceFile(std::FILE* stream, std::string path) : m_stream(stream), m_path(std::move(path)) {}
    std::FILE* m_stream;
    std::string m_path;
    bool m_failed = false;
};

} // namespace nettool::cli
