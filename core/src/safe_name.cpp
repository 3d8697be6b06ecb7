#include <cstdint>
#include <nettool/safe_name.hpp>
#include <nettool/utf8.hpp>

namespace nettool {
namespace {

constexpr std::size_t k_max_extension = 16; // ".tar.gz" style suffixes longer than this are cut

std::string clean_characters(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        std::uint32_t code = 0;
        const std::size_t length = utf8_sequence(text, i, code);
        if (length == 0) {
            out += '_';
            ++i;
            continue;
        }
        if (is_display_control(code))
            out += '_';
        else
            out.append(text.substr(i, length));
        i += length;
    }
    return out;
}

std::string_view base_name(std::string_view text) {
    const auto slash = text.find_last_of("/\\");
    return slash == std::string_view::npos ? text : text.substr(slash + 1);
}

std::string_view trim(std::string_view text, std::string_view what) {
    const auto first = text.find_first_not_of(what);
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(what);
    return text.substr(first, last - first + 1);
}

// Cuts `name` (valid UTF-8) to k_max_safe_name bytes, keeping a short extension.
std::string bound_length(std::string name) {
    if (name.size() <= k_max_safe_name) return name;
    std::string extension;
    const auto dot = name.rfind('.');
    if (dot != std::string::npos && dot > 0 && name.size() - dot <= k_max_extension) {
        extension = name.substr(dot);
    }
    std::size_t cut = k_max_safe_name - extension.size();
    while (cut > 0 && is_utf8_continuation(static_cast<unsigned char>(name[cut])))
        --cut;
    while (cut > 0 && name[cut - 1] == ' ') // a cut among blanks must not leave them trailing
        --cut;
    name.resize(cut);
    return name + extension;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
        const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] + 32) : b[i];
        if (x != y) return false;
    }
    return true;
}

std::string latin1_to_utf8(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x80) {
            out += c;
        } else {
            out += static_cast<char>(0xc0 | (u >> 6));
            out += static_cast<char>(0x80 | (u & 0x3f));
        }
    }
    return out;
}

// RFC 5987 ext-value: charset "'" [language] "'" value-chars.
std::optional<std::string> decode_ext_value(std::string_view value) {
    const auto first = value.find('\'');
    if (first == std::string_view::npos) return std::nullopt;
    const auto second = value.find('\'', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    const std::string_view charset = value.substr(0, first);
    const std::string decoded = percent_decode(value.substr(second + 1));
    if (iequals(charset, "utf-8")) return decoded;
    if (iequals(charset, "iso-8859-1")) return latin1_to_utf8(decoded);
    return std::nullopt; // a charset we cannot convert: fall back to filename=
}

} // namespace

std::string percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            const int high = hex_value(text[i + 1]);
            const int low = hex_value(text[i + 2]);
            if (high >= 0 && low >= 0) {
                out += static_cast<char>(high * 16 + low);
                i += 2;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

std::string safe_name(std::string_view raw) {
    // Cleaning first means a control character cannot hide a separator from base_name().
    const std::string cleaned = clean_characters(raw);
    std::string_view name = base_name(cleaned);
    // Blanks and dots in any mix (". .bashrc"): stripping one kind must not expose the other.
    const auto first = name.find_first_not_of(" \t.");
    if (first == std::string_view::npos) return {};
    name = trim(name.substr(first), " \t");
    return bound_length(std::string(name));
}

std::optional<std::string> content_disposition_filename(std::string_view header) {
    std::optional<std::string> plain;
    std::optional<std::string> extended;
    std::size_t i = header.find(';'); // skip the disposition type
    while (i != std::string_view::npos && i < header.size()) {
        ++i; // past ';'
        while (i < header.size() && (header[i] == ' ' || header[i] == '\t'))
            ++i;
        const auto equals = header.find_first_of("=;", i);
        if (equals == std::string_view::npos || header[equals] == ';') {
            i = equals;
            continue;
        }
        const std::string_view name = trim(header.substr(i, equals - i), " \t");
        i = equals + 1;
        while (i < header.size() && (header[i] == ' ' || header[i] == '\t'))
            ++i;
        std::string value;
        if (i < header.size() && header[i] == '"') {
            for (++i; i < header.size() && header[i] != '"'; ++i) {
                if (header[i] == '\\' && i + 1 < header.size()) ++i;
                value += header[i];
            }
            i = header.find(';', i);
        } else {
            const auto end = header.find(';', i);
            value = std::string(
                trim(header.substr(i, end == std::string_view::npos ? end : end - i), " \t"));
            i = end;
        }
        if (iequals(name, "filename*")) {
            if (auto decoded = decode_ext_value(value)) extended = std::move(decoded);
        } else if (iequals(name, "filename") && !plain) {
            plain = std::move(value);
        }
    }
    if (extended && !extended->empty()) return extended;
    if (plain && !plain->empty()) return plain;
    return std::nullopt;
}

std::string remote_file_name(std::optional<std::string_view> content_disposition,
                             std::string_view url_path) {
    if (content_disposition) {
        if (auto offered = content_disposition_filename(*content_disposition)) {
            std::string name = safe_name(*offered);
            if (!name.empty()) return name;
        }
    }
    const auto query = url_path.find_first_of("?#");
    if (query != std::string_view::npos) url_path = url_path.substr(0, query);
    if (url_path.empty() || url_path.back() == '/') return "index.html";
    const auto slash = url_path.rfind('/');
    const std::string_view segment =
        slash == std::string_view::npos ? url_path : url_path.substr(slash + 1);
    std::string name = safe_name(percent_decode(segment));
    return name.empty() ? std::string("download") : name;
}

} // namespace nettool
