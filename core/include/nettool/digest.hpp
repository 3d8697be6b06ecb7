#pragma once
// Message digests (sha256 for --json, --checksum's sha256/sha512/sha1/md5), computed as the bytes
// are written so a download is never read twice. parse_checksum() needs no library; a Digest is
// computed by OpenSSL EVP in the HTTP module, which Digest::create() loads on first use (its
// error then says why the module cannot be used, exit 1).
#include <memory>
#include <nettool/error.hpp>
#include <span>
#include <string>
#include <string_view>

namespace nettool {

struct ChecksumSpec {
    std::string algorithm; // "sha256", "sha512", "sha1", "md5"
    std::string hex;       // lower case
};

// "sha256:HEX" (also sha512, sha1, md5; the algorithm name is case-insensitive, the hex digits
// must have the algorithm's length). A usage error naming the problem otherwise.
Result<ChecksumSpec> parse_checksum(std::string_view text);

// Whether `name` is one of the algorithms above (lower case).
bool is_digest_algorithm(std::string_view name);

class Digest {
  public:
    // algorithm as in ChecksumSpec; a usage error for an unknown one.
    static Result<Digest> create(std::string_view algorithm);
    Digest(Digest&&) noexcept;
    Digest& operator=(Digest&&) noexcept;
    ~Digest();

    void update(std::span<const char> data);
    // Starts over (the server sent the whole body again).
    void reset();
    // Lower-case hex of everything so far; the digest can keep going afterwards.
    std::string hex() const;
    const std::string& algorithm() const { return m_algorithm; }

  private:
    struct State;
    explicit Digest(std::unique_ptr<State> state, std::string algorithm);
    std::unique_ptr<State> m_state;
    std::string m_algorithm;
};

} // namespace nettool
