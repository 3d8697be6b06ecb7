#include <nettool/port_scan.hpp>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <vector>

#include <nettool/happy_eyeballs.hpp>
#include <nettool/stop.hpp>

namespace nettool {
namespace {

struct Probe {
    std::size_t index; // into the port range
    Race race;
};

// "connect to 127.0.0.1:23: connection refused" -> "connection refused".
std::string reason_of(const std::string& message) {
    const auto colon = message.rfind(": ");
    return colon == std::string::npos ? message : message.substr(colon + 2);
}

} // namespace

Result<ScanSummary> scan_ports(const ScanOptions& options, ScanObserver& observer) {
    auto resolved = resolve(options.host, options.ports.first, Transport::tcp, options.family);
    if (!resolved) return tl::unexpected(resolved.error());
    std::vector<SockAddr> candidates = interleave_families(*resolved);
    if (options.source && options.source->address) {
        const int family = options.source->address->family();
        std::erase_if(candidates, [&](const SockAddr& a) { return a.family() != family; });
        if (candidates.empty()) {
            return fail(ErrorKind::network, fmt::format("'{}' has no address of the source address's family ({})",
                                                        options.host, format_address(*options.source->address)));
        }
    }

    const std::size_t count = std::size_t{options.ports.last} - options.ports.first + 1;
    const std::size_t concurrency = std::max<std::size_t>(1, options.concurrency);
    std::vector<std::optional<PortState>> results(count);
    std::vector<Probe> active;
    std::size_t next = 0;
    std::size_t reported = 0;
    ScanSummary summary;
    std::vector<pollfd> fds;
    std::vector<std::size_t> offsets;

    const auto finish = [&](Probe& probe) {
        const auto port = static_cast<std::uint16_t>(options.ports.first + probe.index);
        auto outcome = probe.race.take();
        PortState state{options.host, format_address(candidates.front()), port, false, {}};
        if (outcome) {
            state.open = true;
            state.address = format_address(outcome->peer);
        } else {
            state.error = reason_of(outcome.error().error.message);
        }
        results[probe.index] = std::move(state);
    };

    while (reported < count) {
        const auto now = Clock::now();
        while (active.size() < concurrency && next < count) {
            std::vector<SockAddr> targets = candidates;
            const auto port = static_cast<std::uint16_t>(options.ports.first + next);
            for (auto& t : targets) set_port(t, port);
            Race::Settings settings;
            settings.source = options.source;
            settings.deadline = now + options.timeout;
            settings.timeout = options.timeout;
            settings.name = format_host_port(options.host, port);
            active.push_back(Probe{next++, Race(std::move(targets), std::move(settings))});
            active.back().race.advance({}, now); // starts the first attempt
        }
        // Completed probes leave; results are reported strictly in port order.
        for (auto& probe : active) {
            if (probe.race.done()) finish(probe);
        }
        std::erase_if(active, [&](const Probe& p) { return results[p.index].has_value(); });
        while (reported < count && results[reported]) {
            (results[reported]->open ? summary.open : summary.not_open)++;
            observer.port_done(*results[reported]);
            results[reported].reset();
            ++reported;
            // Keep `results` indexable but free the strings already reported.
        }
        if (reported >= count) break;
        if (active.empty()) continue; // more ports to start

        fds.clear();
        offsets.clear();
        auto wakeup = Clock::time_point::max();
        for (const auto& probe : active) {
            offsets.push_back(fds.size());
            probe.race.collect(fds);
            wakeup = std::min(wakeup, probe.race.next_wakeup());
        }
        offsets.push_back(fds.size());
        fds.push_back(pollfd{stop_fd(), POLLIN, 0});
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wakeup - Clock::now());
        const int timeout = static_cast<int>(std::clamp<long long>(wait.count(), 0, 60'000));
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
            const int err = errno;
            return fail(ErrorKind::generic, fmt::format("poll: {}", errno_text(err)));
        }
        if (fds.back().revents != 0 || stop_requested()) return fail(ErrorKind::interrupted, "");
        const auto after = Clock::now();
        for (std::size_t i = 0; i < active.size(); ++i) {
            const std::span<const pollfd> mine(fds.data() + offsets[i], offsets[i + 1] - offsets[i]);
            active[i].race.advance(mine, after);
        }
    }
    return summary;
}

} // namespace nettool
