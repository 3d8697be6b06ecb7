// Digests through OpenSSL EVP. Part of the HTTP module (nettool-http.so): the binary reaches
// these through the module (module/module_client.cpp) and never maps libcrypto itself.
#include <fmt/format.h>
#include <nettool/digest.hpp>
#include <openssl/evp.h>

namespace nettool {
namespace {

struct CtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

} // namespace

struct Digest::State {
    std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx;
    const EVP_MD* md = nullptr;
};

Digest::Digest(std::unique_ptr<State> state, std::string algorithm)
    : m_state(std::move(state)), m_algorithm(std::move(algorithm)) {}
Digest::Digest(Digest&&) noexcept = default;
Digest& Digest::operator=(Digest&&) noexcept = default;
Digest::~Digest() = default;

Result<Digest> Digest::create(std::string_view algorithm) {
    if (!is_digest_algorithm(algorithm)) {
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
