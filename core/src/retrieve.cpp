#include "retrieve_split.hpp"
#include "retrieve_transfer.hpp"
#include "util/time.hpp"

#include <charconv>
#include <fmt/format.h>
#include <nettool/http/url.hpp>
#include <nettool/retrieve.hpp>
#include <nettool/stop.hpp>

namespace nettool {

std::optional<std::uint64_t> content_range_total(std::string_view value) {
    const auto slash = value.rfind('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const std::string_view digits = value.substr(slash + 1);
    std::uint64_t total = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), total);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
        return std::nullopt;
    return total;
}

Result<RetrieveResult> retrieve(const RetrieveOptions& options, http::TransferEngine& engine,
                                RetrieveObserver& observer) {
    if (wants_split(options)) return retrieve_split(options, engine, observer);
    return retrieve_in_order(options, engine, observer);
}

Result<RetrieveResult> retrieve_in_order(const RetrieveOptions& options,
                                         http::TransferEngine& engine, RetrieveObserver& observer) {
    RetrieveTransfer transfer(options, observer);
    if (!transfer.prepare()) return std::move(transfer.result());
    for (;;) {
        const auto next =
            transfer.conclude(engine.perform(transfer.next_request(), transfer.sink()));
        if (next.what == RetrieveTransfer::Next::What::finished) break;
        if (next.what == RetrieveTransfer::Next::What::wait &&
            !util::sleep_unless_stopped(next.delay)) {
            transfer.give_up(Error{ErrorKind::interrupted, "interrupted"});
            break;
        }
    }
    return std::move(transfer.result());
}

} // namespace nettool
