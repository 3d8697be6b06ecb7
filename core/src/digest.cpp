#include <cctype>
#include <fmt/format.h>
#include <nettool/digest.hpp>
#include <openssl/evp.h>

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

struct CtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

} // namespace

struct Digest::State {
    std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx;
    const EVP_MD* md = nullptr;
};

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

Digest::Digest(std::unique_ptr<State> state, std::string algorithm)
    : m_state(std::move(state)), m_algorithm(std::move(algorithm)) {}
Digest::Digest(Digest&&) noexcept = default;
Digest& Digest::operator=(Digest&&) noexcept = default;
Digest::~Digest() = default;

Result<Digest> Digest::create(std::string_view algorithm) {
    if (find_algorithm(algorithm) == nullptr) {
        return fail(ErrorKind::usage, fmt::format("unknown digest algorithm '{}'", algorithm));
    }
    auto state = std::make_unique<State>();
    state->md = EVP_get_digestbyname(std::string(algorithm).c_str());
    state->ctx.reset(EVP_MD_CTX_new());
    if (state->md == nullptr || !state->ctx ||
        EVP_DigestInit_ex(state->ctx.get(), state->md, nullptr) != 1) {
        return fail(ErrorKind::generic, fmt::format("OpenSSL cannot compute {} here", algorithm));
    }
    return Digest(std::move(state), std::string(algorithm));
}

void Digest::update(std::span<const char> data) {
    EVP_DigestUpdate(m_state->ctx.get(), data.data(), data.size());
}

void Digest::reset() {
    EVP_DigestInit_ex(m_state->ctx.get(), m_state->md, nullptr);
}

std::string Digest::hex() const {
    // Finalize a copy so the running digest can continue (retries append to it).
    std::unique_ptr<EVP_MD_CTX, CtxDeleter> copy(EVP_MD_CTX_new());
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!copy || EVP_MD_CTX_copy_ex(copy.get(), m_state->ctx.get()) != 1 ||
        EVP_DigestFinal_ex(copy.get(), out, &length) != 1) {
        return {};
    }
    std::string hex;
    for (unsigned int i = 0; i < length; ++i)
        hex += fmt::format("{:02x}", out[i]);
    return hex;
}

} // namespace nettool
