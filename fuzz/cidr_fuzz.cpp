// Fuzz target: serve --allow/--deny address blocks (cidr.hpp). A block that parses is in
// canonical form, prints back to itself, and contains exactly the addresses its prefix says.
#include "fuzz_check.hpp"

#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <nettool/cidr.hpp>

using namespace nettool;
using namespace nettool::fuzz;

namespace {

using Bytes = std::array<std::uint8_t, 16>;

SocketAddress address_of(int family, const Bytes& bytes) {
    if (family == AF_INET) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        std::memcpy(&in.sin_addr, bytes.data(), 4);
        return SocketAddress(reinterpret_cast<const sockaddr*>(&in), sizeof in);
    }
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    std::memcpy(&in6.sin6_addr, bytes.data(), 16);
    return SocketAddress(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
}

Bytes flip_bit(Bytes bytes, int bit) {
    bytes[static_cast<std::size_t>(bit / 8)] ^= static_cast<std::uint8_t>(0x80u >> (bit % 8));
    return bytes;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = as_text(data, size);
    const auto cidr = parse_cidr(text);
    if (!cidr) {
        FUZZ_CHECK(cidr.error().kind == ErrorKind::usage);
        return 0;
    }
    FUZZ_CHECK(cidr->text == text);
    FUZZ_CHECK(cidr->family == AF_INET || cidr->family == AF_INET6);
    const int bits = cidr->family == AF_INET ? 32 : 128;
    FUZZ_CHECK(cidr->prefix >= 0 && cidr->prefix <= bits);
    for (int bit = cidr->prefix; bit < 128; ++bit) // host bits (and an IPv4 block's tail) are zero
        FUZZ_CHECK((cidr->bytes[static_cast<std::size_t>(bit / 8)] & (0x80u >> (bit % 8))) == 0);

    char address[INET6_ADDRSTRLEN] = "";
    FUZZ_CHECK(::inet_ntop(cidr->family, cidr->bytes.data(), address, sizeof address) != nullptr);
    const auto again = parse_cidr(fmt::format("{}/{}", address, cidr->prefix));
    FUZZ_CHECK(again && again->family == cidr->family && again->prefix == cidr->prefix &&
               again->bytes == cidr->bytes);

    // The network address is inside, so is its last host bit; a flipped network bit is not.
    FUZZ_CHECK(cidr->contains(address_of(cidr->family, cidr->bytes)));
    if (cidr->prefix < bits)
        FUZZ_CHECK(cidr->contains(address_of(cidr->family, flip_bit(cidr->bytes, bits - 1))));
    if (cidr->prefix > 0)
        FUZZ_CHECK(
            !cidr->contains(address_of(cidr->family, flip_bit(cidr->bytes, cidr->prefix - 1))));
    if (cidr->family == AF_INET) { // an IPv4 client on a dual-stack socket
        Bytes mapped{};
        mapped[10] = mapped[11] = 0xff;
        std::memcpy(mapped.data() + 12, cidr->bytes.data(), 4);
        FUZZ_CHECK(cidr->contains(address_of(AF_INET6, mapped)));
    }
    return 0;
}
