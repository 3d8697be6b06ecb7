// Fuzz target: one line of the temp area's registry (registry.hpp), which `clean` acts on. A
// line that parses names a file and writes back as one line that parses to the same entry.
#include "fuzz_check.hpp"

#include <cstdint>
#include <limits>
#include <nettool/registry.hpp>

using namespace nettool;
using namespace nettool::fuzz;

namespace {

bool same(const RegistryEntry& a, const RegistryEntry& b) {
    return a.name == b.name && a.path == b.path && a.device == b.device && a.inode == b.inode &&
           a.birth_ns == b.birth_ns && a.url == b.url && a.time == b.time && a.state == b.state &&
           a.pid == b.pid;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto entry = parse_registry_line(as_text(data, size));
    if (!entry) return 0;
    // Every entry names its file: by name (this version) or by path (older registries).
    FUZZ_CHECK(!entry->name.empty() || !entry->path.empty());
    // The OS would see a shorter name or path.
    FUZZ_CHECK(entry->path.find('\0') == std::string::npos);
    FUZZ_CHECK(entry->name.find('\0') == std::string::npos);
    // A start time that clean's nanosecond clock arithmetic holds.
    FUZZ_CHECK(entry->time >= 0 &&
               entry->time <= std::numeric_limits<std::int64_t>::max() / 1'000'000'000);
    const std::string line = format_registry_line(*entry);
    FUZZ_CHECK(line.find('\n') == std::string::npos); // the registry is one entry per line
    const auto again = parse_registry_line(line);
    FUZZ_CHECK(again);
    FUZZ_CHECK(same(*again, *entry));
    return 0;
}
