// URL checking with libcurl's own parser, so nettool accepts exactly what the engine fetches.
#include "curl_handles.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <fmt/format.h>
#include <nettool/http/url.hpp>

namespace nettool::http {
namespace {

constexpr std::array<std::string_view, 5> k_schemes = {"http", "https", "ftp", "ftps", "file"};

std::string part(CURLU* url, CURLUPart which, unsigned flags = 0) {
    char* text = nullptr;
    if (curl_url_get(url, which, &text, flags) != CURLUE_OK || text == nullptr) return {};
    CurlString owned(text);
    return std::string(owned.get());
}

// "scheme:/..." (RFC 3986 scheme characters, then ":/"); "host:8080/x" has no scheme.
bool has_scheme(std::string_view text) {
    const auto colon = text.find(':');
    if (colon == 0 || colon == std::string_view::npos || colon + 1 >= text.size() ||
        text[colon + 1] != '/')
        return false;
    if (!std::isalpha(static_cast<unsigned char>(text[0]))) return false;
    return std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    });
}

// libcurl's reasons are terse ("Bad hostname"); the user needs the URL and what to write.
tl::unexpected<Error> bad_url(std::string_view text, std::string_view why) {
    return fail(ErrorKind::usage,
                fmt::format("bad URL '{}': {}; write it like http://example.com/path", text, why));
}

} // namespace

Result<Url> parse_url(std::string_view text) {
    if (text.empty())
        return fail(ErrorKind::usage, "the URL is empty; write it like http://example.com/path");
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        return bad_url(text, "it contains a space or a control character (write a space as %20)");
    }
    ensure_curl_initialized();
    UrlHandle url(curl_url());
    if (!url) return fail(ErrorKind::generic, "out of memory parsing a URL");
    // A URL without a scheme is http (nettool-get(1)). CURLU_DEFAULT_SCHEME would make it https and
    // CURLU_GUESS_SCHEME would turn "ftp.example.com" into ftp, so the scheme is added here.
    const std::string copy = has_scheme(text) ? std::string(text) : "http://" + std::string(text);
    // CURLU_NON_SUPPORT_SCHEME: we check the scheme ourselves, with a better sentence.
    const CURLUcode rc =
        curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), CURLU_NON_SUPPORT_SCHEME);
    if (rc != CURLUE_OK) return bad_url(text, curl_url_strerror(rc));
    // The engine fetches libcurl's rebuilt form, so that form is what is checked and described,
    // and it must read back as itself: a few inputs rebuild into URLs libcurl then rejects
    // ("file:/t:?" becomes "file:///t:"), and a file: URL loses its query on the way.
    std::string rebuilt = part(url.get(), CURLUPART_URL);
    for (int round = 0;; ++round) {
        if (rebuilt.empty()) return bad_url(text, "libcurl cannot rebuild it");
        const CURLUcode again =
            curl_url_set(url.get(), CURLUPART_URL, rebuilt.c_str(), CURLU_NON_SUPPORT_SCHEME);
        if (again != CURLUE_OK) return bad_url(text, curl_url_strerror(again));
        std::string next = part(url.get(), CURLUPART_URL);
        if (next == rebuilt) break;
        if (round == 2) return bad_url(text, "libcurl does not settle on one form of it");
        rebuilt = std::move(next);
    }

    Url result;
    result.scheme = part(url.get(), CURLUPART_SCHEME);
    std::transform(result.scheme.begin(), result.scheme.end(), result.scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (std::find(k_schemes.begin(), k_schemes.end(), result.scheme) == k_schemes.end()) {
        return fail(ErrorKind::usage,
                    fmt::format("bad URL '{}': the scheme '{}' is not supported; use "
                                "http, https, ftp, ftps or file",
                                text, result.scheme));
    }
    result.host = part(url.get(), CURLUPART_HOST);
    if (result.host.empty() && result.scheme != "file") return bad_url(text, "it has no host name");
    const std::string port = part(url.get(), CURLUPART_PORT);
    if (!port.empty()) {
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || value > 65535)
            return bad_url(text, "the port is not a number in 0-65535");
        result.port = static_cast<std::uint16_t>(value);
    }
    result.path = part(url.get(), CURLUPART_PATH);
    result.query = part(url.get(), CURLUPART_QUERY);
    result.has_credentials = !part(url.get(), CURLUPART_USER).empty();
    result.text = std::move(rebuilt);
    result.shown = result.has_credentials ? without_password(result.text) : result.text;
    return result;
}

std::string without_password(std::string_view text) {
    if (text.find('@') == std::string_view::npos) return std::string(text); // the common case
    ensure_curl_initialized();
    UrlHandle url(curl_url());
    const std::string copy(text);
    if (!url ||
        curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
        return copy;
    if (part(url.get(), CURLUPART_PASSWORD).empty()) return copy;
    if (curl_url_set(url.get(), CURLUPART_PASSWORD, nullptr, 0) != CURLUE_OK) return copy;
    std::string shown = part(url.get(), CURLUPART_URL);
    return shown.empty() ? copy : shown;
}

namespace {

// A proxy as typed, for a message about why it is malformed: without what follows the first
// ':' of its user:password@ part (by plain text, since the URL may not parse).
std::string proxy_text_shown(std::string_view text) {
    const auto sep = text.find("://");
    const std::size_t start = sep == std::string_view::npos ? 0 : sep + 3;
    const auto at = text.rfind('@');
    if (at == std::string_view::npos || at < start) return std::string(text);
    const auto colon = text.find(':', start);
    if (colon == std::string_view::npos || colon > at) return std::string(text);
    return fmt::format("{}{}", text.substr(0, colon), text.substr(at));
}

} // namespace

Status check_proxy_url(std::string_view text) {
    static constexpr std::array<std::string_view, 6> k_proxy_schemes = {
        "http", "https", "socks4", "socks4a", "socks5", "socks5h"};
    const auto bad = [&](std::string_view why) {
        return fail(ErrorKind::usage,
                    fmt::format("bad --proxy '{}': {}; write it like http://host:port",
                                proxy_text_shown(text), why));
    };
    if (text.empty()) return bad("it is empty");
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        return bad("it contains a space or a control character");
    }
    ensure_curl_initialized();
    UrlHandle url(curl_url());
    if (!url) return fail(ErrorKind::generic, "out of memory parsing a URL");
    const std::string copy = text.find("://") == std::string_view::npos
                                 ? "http://" + std::string(text)
                                 : std::string(text);
    const CURLUcode rc =
        curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), CURLU_NON_SUPPORT_SCHEME);
    if (rc != CURLUE_OK) return bad(curl_url_strerror(rc));
    std::string scheme = part(url.get(), CURLUPART_SCHEME);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (std::find(k_proxy_schemes.begin(), k_proxy_schemes.end(), scheme) ==
        k_proxy_schemes.end()) {
        return bad(fmt::format("the scheme '{}' is not a proxy scheme (http, https, socks4, "
                               "socks4a, socks5, socks5h)",
                               scheme));
    }
    if (part(url.get(), CURLUPART_HOST).empty()) return bad("it has no host name");
    const std::string port = part(url.get(), CURLUPART_PORT);
    unsigned value = 0;
    if (!port.empty()) {
        auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || value == 0 || value > 65535)
            return bad("the port is not a number in 1-65535");
    }
    return {};
}

std::string path_of_url(std::string_view text) {
    ensure_curl_initialized();
    UrlHandle url(curl_url());
    const std::string copy(text);
    if (!url ||
        curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
        return "/";
    std::string path = part(url.get(), CURLUPART_PATH);
    return path.empty() ? "/" : path;
}

} // namespace nettool::http
