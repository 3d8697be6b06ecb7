// Fuzz target: the PROXY protocol header serve --accept-proxy reads (proxy_header.hpp). A scan
// never claims more bytes than it was given or than the limits allow; every shorter prefix of
// a complete header is "incomplete, all of it header" (so a reader consuming what it is told
// never swallows the client's data); a carried address written back as v1 and v2 reads back
// the same (an IPv4-mapped pair as IPv4).
#include "fuzz_check.hpp"

#include <cstdint>
#include <nettool/proxy_header.hpp>

using namespace nettool;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);
    const auto scan = scan_proxy_header(input);
    if (!scan) {
        FUZZ_CHECK(scan.error().kind == ErrorKind::protocol);
        return 0;
    }
    if (!scan->header) {
        FUZZ_CHECK(scan->header_bytes == size);
        FUZZ_CHECK(size < k_proxy_v2_max);
        return 0;
    }
    const ProxyHeader& header = *scan->header;
    FUZZ_CHECK(header.length > 0 && header.length <= size && header.length <= k_proxy_v2_max);
    FUZZ_CHECK(header.source.has_value() == header.destination.has_value());
    FUZZ_CHECK(!(header.local && header.source));
    for (std::size_t cut = 0; cut < header.length; cut += 1 + header.length / 16) {
        const auto partial = scan_proxy_header(input.first(cut));
        FUZZ_CHECK(partial && !partial->header && partial->header_bytes == cut);
    }
    if (header.source) {
        FUZZ_CHECK(header.source->family() == header.destination->family());
        for (const auto version : {ProxyVersion::v1, ProxyVersion::v2}) {
            const std::string written =
                format_proxy_header(version, *header.source, *header.destination);
            const auto again = scan_proxy_header(
                {reinterpret_cast<const std::uint8_t*>(written.data()), written.size()});
            FUZZ_CHECK(again && again->header && again->header->length == written.size());
            // The same addresses; an IPv4-mapped pair is written (and so read back) as IPv4.
            FUZZ_CHECK(again->header->source->display() == header.source->display());
            FUZZ_CHECK(again->header->destination->display() == header.destination->display());
        }
    }
    return 0;
}
