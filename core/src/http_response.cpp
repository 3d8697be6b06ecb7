// The parts of the transfer interface that need no libcurl (shared with the fake engine).
#include <fmt/format.h>
#include <nettool/http/transfer.hpp>
#include <strings.h>

namespace nettool::http {
namespace {
bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}
} // namespace

std::optional<std::string_view> ResponseHead::find(std::string_view name) const {
    for (const auto& header : headers) {
        if (same_name(header.name, name)) return std::string_view(header.value);
    }
    return std::nullopt;
}

std::vector<std::string_view> ResponseHead::find_all(std::string_view name) const {
    std::vector<std::string_view> values;
    for (const auto& header : headers) {
        if (same_name(header.name, name)) values.emplace_back(header.value);
    }
    return values;
}

std::string describe_status(int status, std::string_view reason, std::string_view url) {
    if (reason.empty()) return fmt::format("HTTP {}: {}", status, url);
    return fmt::format("HTTP {} {}: {}", status, reason, url);
}

} // namespace nettool::http
