#include "http_trace.hpp"

#include "escape.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <strings.h>
#include <unistd.h>
#include <utility>

namespace nettool::cli {
namespace {

constexpr std::string_view k_redacted = "[redacted]";

bool is_header_named(std::string_view line, std::string_view name) {
    return line.size() > name.size() && line[name.size()] == ':' &&
           ::strncasecmp(line.data(), name.data(), name.size()) == 0;
}

// "a=1; b=2" -> "a=[redacted]; b=[redacted]"; with `first_only` (Set-Cookie) only the first
// pair is a cookie, the rest are its attributes (Path=/, HttpOnly).
std::string redact_cookie_values(std::string_view pairs, bool first_only) {
    std::string out;
    bool first = true;
    std::size_t start = 0;
    while (start <= pairs.size()) {
        const auto end = std::min(pairs.find(';', start), pairs.size());
        const std::string_view pair = pairs.substr(start, end - start);
        const auto equals = pair.find('=');
        if (equals != std::string_view::npos && (first || !first_only)) {
            out.append(pair.substr(0, equals + 1));
            out.append(k_redacted);
        } else {
            out.append(pair);
        }
        if (end < pairs.size()) out += ';';
        first = false;
        start = end + 1;
    }
    return out;
}

std::string_view without_line_end(std::string_view line) {
    if (line.ends_with('\n')) line.remove_suffix(1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
}

const char* trace_title(http::TraceKind kind) {
    switch (kind) {
    case http::TraceKind::header_out:
        return "=> Send header";
    case http::TraceKind::data_out:
        return "=> Send data";
    case http::TraceKind::header_in:
        return "<= Recv header";
    case http::TraceKind::data_in:
        return "<= Recv data";
    default:
        return "== Info";
    }
}

} // namespace

std::string redact_credentials(std::string_view line) {
    for (const std::string_view name : {"Authorization", "Proxy-Authorization"}) {
        if (!is_header_named(line, name)) continue;
        // Keep the scheme ("Basic", "Bearer"), hide the rest.
        std::string_view value = line.substr(name.size() + 1);
        const auto scheme_start = value.find_first_not_of(' ');
        if (scheme_start == std::string_view::npos) return std::string(line);
        const auto scheme_end = value.find(' ', scheme_start);
        if (scheme_end == std::string_view::npos)
            return fmt::format("{}: {}", line.substr(0, name.size()), k_redacted);
        return fmt::format("{}:{} {}", line.substr(0, name.size()), value.substr(0, scheme_end),
                           k_redacted);
    }
    // An FTP login, which libcurl reports as a header sent.
    if (line.size() > 5 && ::strncasecmp(line.data(), "PASS ", 5) == 0)
        return fmt::format("{} {}", line.substr(0, 4), k_redacted);
    if (is_header_named(line, "Cookie"))
        return std::string(line.substr(0, 7)) + redact_cookie_values(line.substr(7), false);
    if (is_header_named(line, "Set-Cookie"))
        return std::string(line.substr(0, 11)) + redact_cookie_values(line.substr(11), true);
    return std::string(line);
}

std::string header_trace_lines(std::string_view prefix, std::string_view block) {
    std::string out;
    std::size_t start = 0;
    while (start < block.size()) {
        auto end = block.find('\n', start);
        end = end == std::string_view::npos ? block.size() : end + 1;
        const std::string_view line = without_line_end(block.substr(start, end - start));
        start = end;
        if (line.empty()) continue;
        out.append(prefix);
        out += escape_for_terminal(redact_credentials(line));
        out += '\n';
    }
    return out;
}

std::string trace_ascii_chunk(http::TraceKind kind, std::string_view bytes) {
    if (kind == http::TraceKind::info) {
        std::string out = fmt::format("{}: ", trace_title(kind));
        for (const char c : without_line_end(bytes)) {
            const auto u = static_cast<unsigned char>(c);
            out += u >= 0x20 && u < 0x7f ? c : '.';
        }
        return out + '\n';
    }
    constexpr std::size_t width = 64;
    std::string out =
        fmt::format("{}, {} bytes (0x{:x})\n", trace_title(kind), bytes.size(), bytes.size());
    std::size_t offset = 0;
    while (offset < bytes.size()) {
        out += fmt::format("{:04x}: ", offset);
        std::size_t used = 0;
        while (used < width && offset < bytes.size()) {
            if (bytes.substr(offset).starts_with("\r\n")) {
                offset += 2; // the line ends here, as it did on the wire
                break;
            }
            const auto u = static_cast<unsigned char>(bytes[offset]);
            out += u >= 0x20 && u < 0x7f ? bytes[offset] : '.';
            ++offset;
            ++used;
        }
        out += '\n';
    }
    return out;
}

Result<TraceFile> TraceFile::open(const std::string& path) {
    if (path == "-") return TraceFile(stdout, path);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::FILE* stream = fd < 0 ? nullptr : ::fdopen(fd, "w");
    if (stream == nullptr) {
        const int error = errno;
        if (fd >= 0) ::close(fd);
        return fail(ErrorKind::file_io,
                    fmt::format("cannot write the trace file '{}': {}", path, errno_text(error)));
    }
    return TraceFile(stream, path);
}

TraceFile::TraceFile(TraceFile&& other) noexcept
    : m_stream(std::exchange(other.m_stream, nullptr)), m_path(std::move(other.m_path)),
      m_failed(other.m_failed) {}

TraceFile::~TraceFile() {
    if (m_stream != nullptr && m_stream != stdout) std::fclose(m_stream);
}

void TraceFile::write(http::TraceKind kind, std::string_view bytes) {
    const std::string text = trace_ascii_chunk(kind, bytes);
    if (std::fwrite(text.data(), 1, text.size(), m_stream) != text.size()) m_failed = true;
}

Status TraceFile::finish() {
    if (m_stream == nullptr) return {};
    bool failed = m_failed || std::fflush(m_stream) != 0;
    const int error = errno;
    if (m_stream != stdout) failed = std::fclose(m_stream) != 0 || failed;
    m_stream = nullptr;
    if (failed) {
        return fail(ErrorKind::file_io,
                    fmt::format("cannot write the trace file '{}': {}", m_path, errno_text(error)));
    }
    return {};
}

} // namespace nettool::cli
