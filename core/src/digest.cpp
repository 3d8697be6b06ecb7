// The checksum syntax of --checksum, without OpenSSL: it is checked at parse time, and the
// digests themselves are computed in the HTTP module (http/digest_evp.cpp).
#include <cctype>
#include <fmt/format.h>
#include <nettool/digest.hpp>

namespace nettool {
namespace {

struct Algorithm {
    const char* name;
    std::size_t hex_length;
};
constexpr Algorithm k_algorithms[] = {{"sha256", 64}, {"sha512", 128}, {"sha1", 40}, {"md5", 32}};

const Algorithm* find_algorithm(std::string_view name) {
    for (const auto& algorithm : k_algorithms) {
        if (name == algorithm.name) return &algorithm;
    }
    return nullptr;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

} // namespace

Result<ChecksumSpec> parse_checksum(std::string_view text) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        return fail(
            ErrorKind::usage,
            fmt::format("bad checksum '{}': write ALGORITHM:HEX, e.g. sha256:9f86d0...", text));
    }
    ChecksumSpec spec{lower(text.substr(0, colon)), lower(text.substr(colon + 1))};
    const Algorithm* algorithm = find_algorithm(spec.algorithm);
    if (algorithm == nullptr) {
        return fail(ErrorKind::usage,
                    fmt::format("bad checksum '{}': unknown algorithm '{}'; use sha256, "
                                "sha512, sha1 or md5",
                                text, text.substr(0, colon)));
    }
    const bool all_hex = spec.hex.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!all_hex || spec.hex.size() != algorithm->hex_length) {
        return fail(ErrorKind::usage,
                    fmt::format("bad checksum '{}': a {} checksum is {} hexadecimal digits", text,
                                algorithm->name, algorithm->hex_length));
    }
    return spec;
}

bool is_digest_algorithm(std::string_view name) {
    return find_algorithm(name) != nullptr;
}

} // namespace nettool
