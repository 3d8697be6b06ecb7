#include "curl_transfer.hpp"

#include <cerrno>
#include <charconv>
#include <fmt/format.h>
#include <nettool/stop.hpp>
#include <unistd.h>

namespace nettool::http {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                             text.back() == '\n'))
        text.remove_suffix(1);
    return text;
}

// "HTTP/1.1 404 Not Found" -> protocol, status, reason.
void parse_status_line(std::string_view line, ResponseHead& head) {
    line = trim(line);
    const auto space = line.find(' ');
    head.protocol = std::string(line.substr(0, space));
    if (space == std::string_view::npos) return;
    std::string_view rest = line.substr(space + 1);
    const auto end = rest.find(' ');
    const std::string_view code = rest.substr(0, end);
    std::from_chars(code.data(), code.data() + code.size(), head.status);
    if (end != std::string_view::npos) head.reason = std::string(trim(rest.substr(end + 1)));
}

bool is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// "bytes 100-199/1000" -> {100, 199}; nullopt for anything else ("*/1000", garbage).
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_content_range(std::string_view text) {
    text = trim(text);
    if (!text.starts_with("bytes ")) return std::nullopt;
    text.remove_prefix(6);
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    const char* end = text.data() + text.size();
    auto [p1, e1] = std::from_chars(text.data(), end, first);
    if (e1 != std::errc() || p1 == end || *p1 != '-') return std::nullopt;
    auto [p2, e2] = std::from_chars(p1 + 1, end, last);
    if (e2 != std::errc() || p2 == end || *p2 != '/' || last < first) return std::nullopt;
    const std::string_view total(p2 + 1, static_cast<std::size_t>(end - p2 - 1));
    if (total != "*") {
        std::uint64_t size = 0;
        auto [p3, e3] = std::from_chars(total.data(), total.data() + total.size(), size);
        if (e3 != std::errc() || p3 != total.data() + total.size() || last >= size)
            return std::nullopt;
    }
    return std::pair{first, last};
}

// Why a 206 cannot be used, or nullopt when it can.
std::optional<std::string> check_partial(const ResponseHead& head, std::uint64_t asked_from,
                                         std::optional<std::uint64_t> asked_last) {
    const std::string_view range = head.find("Content-Range").value_or("");
    const auto parsed = parse_content_range(range);
    if (!parsed || parsed->first != asked_from) {
        return fmt::format("{}: asked for the bytes from {} on but the server sent 206 with "
                           "'Content-Range: {}'",
                           head.url, asked_from, range);
    }
    if (asked_last && parsed->second != *asked_last) {
        return fmt::format("{}: asked for the bytes {}-{} but the server sent 206 with "
                           "'Content-Range: {}'",
                           head.url, asked_from, *asked_last, range);
    }
    const std::uint64_t length = parsed->second - parsed->first + 1;
    if (head.content_length && *head.content_length != length) {
        return fmt::format("{}: the server's 206 says 'Content-Range: {}' ({} bytes) but "
                           "'Content-Length: {}'",
                           head.url, range, length, *head.content_length);
    }
    return std::nullopt;
}

TransferError failure_of(Error error, FailureCause cause) {
    TransferError failure;
    failure.error = std::move(error);
    failure.cause = cause;
    return failure;
}

} // namespace

CurlTransfer::CurlTransfer(CURL* easy, const Request& request, TransferSink& sink, bool http)
    : m_easy(easy), m_request(request), m_sink(sink), m_http(http) {}

void CurlTransfer::install_callbacks() {
    curl_easy_setopt(m_easy, CURLOPT_HEADERFUNCTION, &CurlTransfer::header_callback);
    curl_easy_setopt(m_easy, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(m_easy, CURLOPT_WRITEFUNCTION, &CurlTransfer::write_callback);
    curl_easy_setopt(m_easy, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(m_easy, CURLOPT_XFERINFOFUNCTION, &CurlTransfer::progress_callback);
    curl_easy_setopt(m_easy, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(m_easy, CURLOPT_NOPROGRESS, 0L);
    if (m_upload) {
        curl_easy_setopt(m_easy, CURLOPT_READFUNCTION, &CurlTransfer::read_callback);
        curl_easy_setopt(m_easy, CURLOPT_READDATA, this);
        curl_easy_setopt(m_easy, CURLOPT_SEEKFUNCTION, &CurlTransfer::seek_callback);
        curl_easy_setopt(m_easy, CURLOPT_SEEKDATA, this);
    }
}

std::string CurlTransfer::effective_url() const {
    char* url = nullptr;
    // After a redirect libcurl's effective URL carries the -u credentials: never show them.
    if (curl_easy_getinfo(m_easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url != nullptr)
        return without_password(url);
    return m_request.url.shown;
}

size_t CurlTransfer::header_callback(char* data, size_t size, size_t count, void* self) {
    auto* transfer = static_cast<CurlTransfer*>(self);
    const size_t length = size * count;
    if (transfer->m_http && !transfer->m_final_delivered) transfer->on_header_line({data, length});
    return length;
}

void CurlTransfer::on_header_line(std::string_view line) {
    if (line.starts_with("HTTP/")) {
        // A new response: the previous complete one was not final (redirect, auth challenge).
        if (m_current_complete && m_current.status >= 200) m_sink.on_intermediate(m_current);
        m_current = ResponseHead{};
        parse_status_line(line, m_current);
        m_current.raw = std::string(line);
        m_in_head = true;
        m_current_complete = false;
        return;
    }
    if (!m_in_head) return;
    m_current.raw += line;
    if (trim(line).empty()) {
        m_in_head = false;
        m_current_complete = true;
        m_current.url = effective_url();
        m_current.path = path_of_url(m_current.url);
        if (is_redirect(m_current.status)) {
            if (auto location = m_current.find("Location")) {
                m_last_location = std::string(*location);
                m_last_redirect_from = m_current.url;
            }
        }
        return;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !m_current.headers.empty()) {
        // An obsolete folded continuation line belongs to the previous header.
        m_current.headers.back().value += ' ';
        m_current.headers.back().value += trim(line);
        return;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    m_current.headers.push_back(
        {std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
}

bool CurlTransfer::deliver_final() {
    m_final_delivered = true;
    if (m_http) {
        m_final = m_current;
    } else {
        long code = 0;
        curl_easy_getinfo(m_easy, CURLINFO_RESPONSE_CODE, &code);
        m_final.status = static_cast<int>(code);
        m_final.resumed = m_request.resume_from > 0;
    }
    m_final.url = effective_url();
    m_final.path = path_of_url(m_final.url);
    curl_off_t length = -1;
    if (curl_easy_getinfo(m_easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
        length >= 0) {
        m_final.content_length = static_cast<std::uint64_t>(length);
    }
    curl_off_t file_time = -1;
    if (curl_easy_getinfo(m_easy, CURLINFO_FILETIME_T, &file_time) == CURLE_OK && file_time >= 0) {
        m_final.last_modified =
            std::chrono::system_clock::from_time_t(static_cast<std::time_t>(file_time));
    }
    const bool has_body = m_final.status >= 200 && m_final.status < 300 && m_final.status != 204 &&
                          !m_request.head_only && m_request.options.method != "HEAD";
    if (m_http && has_body && !m_final.content_length && !m_final.find("Transfer-Encoding") &&
        m_final.find("Content-Length")) {
        // libcurl drops a Content-Length it cannot hold (1e23) and reads until the connection
        // closes: whatever arrives would pass for the whole body.
        m_failure = failure_of(
            Error{ErrorKind::protocol,
                  fmt::format("{}: the server sent 'Content-Length: {}', which is not a length",
                              m_final.url, *m_final.find("Content-Length"))},
            FailureCause::protocol);
        m_failure->http_status = m_final.status;
        return false;
    }
    if (m_http && m_final.status == 206) {
        // The part must start where we asked (0 without a range) and agree with its own
        // length, or it would be glued at the wrong offset.
        if (auto bad = check_partial(m_final, m_request.resume_from, m_request.range_last)) {
            m_failure = failure_of(Error{ErrorKind::protocol, *bad}, FailureCause::protocol);
            m_failure->http_status = 206;
            return false;
        }
        m_final.resumed = m_request.resume_from > 0 || m_request.range_last.has_value();
    }
    if (m_http && m_final.status >= 400 && !m_request.options.ignore_status) {
        m_withheld = true;
        const bool auth = (m_final.status == 401 && credentials_offered) ||
                          (m_final.status == 407 && proxy_credentials_offered);
        std::string message = describe_status(m_final.status, m_final.reason, m_final.url);
        if (auth) message += "; the credentials were refused";
        m_failure =
            failure_of(Error{auth ? ErrorKind::auth : ErrorKind::server, std::move(message)},
                       auth ? FailureCause::auth : FailureCause::http_status);
        m_failure->http_status = m_final.status;
        if (auto retry_after = m_final.find("Retry-After"))
            m_failure->retry_after = std::string(*retry_after);
    }
    if (auto status = m_sink.on_response(m_final); !status) {
        const int http_status = m_final.status;
        m_failure = failure_of(status.error(), FailureCause::sink);
        m_failure->http_status = http_status;
        return false;
    }
    return !m_withheld;
}

size_t CurlTransfer::write_callback(char* data, size_t size, size_t count, void* self) {
    auto* transfer = static_cast<CurlTransfer*>(self);
    const size_t length = size * count;
    if (!transfer->m_final_delivered && !transfer->deliver_final())
        return 0; // aborts: stored failure
    if (transfer->m_withheld || transfer->m_failure) return 0;
    if (transfer->m_gate != nullptr && !transfer->m_gate->admit(length))
        return CURL_WRITEFUNC_PAUSE;
    if (auto status = transfer->m_sink.on_body({data, length}); !status) {
        transfer->m_failure = failure_of(status.error(), FailureCause::sink);
        transfer->m_failure->http_status = transfer->m_final.status;
        return 0;
    }
    transfer->m_body_bytes += length;
    return length;
}

int CurlTransfer::progress_callback(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* transfer = static_cast<CurlTransfer*>(self);
    if (stop_requested()) return 1; // CURLE_ABORTED_BY_CALLBACK
    if (transfer->m_final_delivered && !transfer->m_withheld) {
        transfer->m_sink.on_progress(transfer->m_body_bytes, transfer->m_final.content_length);
    }
    return 0;
}

size_t CurlTransfer::read_callback(char* buffer, size_t size, size_t count, void* self) {
    auto* transfer = static_cast<CurlTransfer*>(self);
    for (;;) {
        const ssize_t n = ::read(transfer->m_upload.get(), buffer, size * count);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR && !stop_requested()) continue;
        return CURL_READFUNC_ABORT;
    }
}

int CurlTransfer::seek_callback(void* self, curl_off_t offset, int origin) {
    auto* transfer = static_cast<CurlTransfer*>(self);
    // A pipe cannot rewind: libcurl then fails the redirect/auth round that needed it.
    if (::lseek(transfer->m_upload.get(), static_cast<off_t>(offset), origin) < 0)
        return CURL_SEEKFUNC_CANTSEEK;
    return CURL_SEEKFUNC_OK;
}

bool CurlTransfer::following_redirect() const {
    return !m_final_delivered && m_current_complete && is_redirect(m_current.status) &&
           m_current.find("Location").has_value();
}

std::optional<TransferError> CurlTransfer::finish_ok() {
    if (!m_final_delivered) deliver_final();
    if (m_failure) {
        m_failure->body_bytes = m_body_bytes;
        return m_failure;
    }
    return std::nullopt;
}

} // namespace nettool::http
