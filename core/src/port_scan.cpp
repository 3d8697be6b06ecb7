#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <nettool/happy_eyeballs.hpp>
#include <nettool/port_scan.hpp>
#include <nettool/stop.hpp>
#include <vector>

namespace nettool {
namespace {

struct Probe {
    std::size_t index; // into the port range
    Race race;
};

// Tests `ports` (bounded concurrency), calling `done` for each in the order given.
Status scan_round(const ScanOptions& options, const std::vector<SocketAddress>& candidates,
                  const std::vector<std::uint16_t>& ports,
                  const std::function<void(const PortState&)>& done) {
    const std::size_t count = ports.size();
    const std::size_t concurrency = std::max<std::size_t>(1, options.concurrency);
    std::vector<std::optional<PortState>> results(count);
    std::vector<Probe> active;
    std::size_t next = 0;
    std::size_t reported = 0;
    std::vector<pollfd> fds;
    std::vector<std::size_t> offsets;

    const auto finish = [&](Probe& probe) {
        auto outcome = probe.race.take();
        PortState state{options.host, candidates.front().host(), ports[probe.index], false, {}};
        if (outcome) {
            state.open = true;
            state.address = outcome->peer.host();
        } else {
            state.error = outcome.error().reason;
        }
        results[probe.index] = std::move(state);
    };

    while (reported < count) {
        const auto now = Clock::now();
        while (active.size() < concurrency && next < count) {
            std::vector<SocketAddress> targets = candidates;
            const std::uint16_t port = ports[next];
            for (auto& t : targets)
                t.set_port(port);
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
            done(*results[reported]);
            results[reported].reset(); // frees the strings of what is already reported
            ++reported;
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
            const std::span<const pollfd> mine(fds.data() + offsets[i],
                                               offsets[i + 1] - offsets[i]);
            active[i].race.advance(mine, after);
        }
    }
    return {};
}

} // namespace

Result<ScanSummary> scan_ports(const ScanOptions& options, ScanObserver& observer) {
    auto resolved = resolve(options.host, options.ports.first, Transport::tcp, options.family);
    if (!resolved) return tl::unexpected(resolved.error());
    std::vector<SocketAddress> candidates = interleave_families(*resolved);
    if (options.source && options.source->address) {
        const int family = options.source->address->family();
        std::erase_if(candidates, [&](const SocketAddress& a) { return a.family() != family; });
        if (candidates.empty()) {
            return fail(ErrorKind::network,
                        fmt::format("'{}' has no address of the source address's family ({})",
                                    options.host, options.source->address->host()));
        }
    }
    std::vector<std::uint16_t> ports;
    for (unsigned p = options.ports.first; p <= options.ports.last; ++p)
        ports.push_back(static_cast<std::uint16_t>(p));
    ScanSummary summary;
    const auto count = [&summary](const PortState& s) {
        (s.open ? summary.open : summary.not_open)++;
    };

    if (!options.wait) { // stream the results as they come
        auto status = scan_round(options, candidates, ports, [&](const PortState& s) {
            count(s);
            observer.port_done(s);
        });
        if (!status) return tl::unexpected(status.error());
        return summary;
    }
    // --wait: test again the ports that are not open yet, until all are or the time is up.
    const auto give_up = Clock::now() + *options.wait;
    std::map<std::uint16_t, PortState> latest;
    for (int round = 1;; ++round) {
        std::vector<std::uint16_t> again;
        auto status = scan_round(options, candidates, ports, [&](const PortState& s) {
            latest[s.port] = s;
            if (!s.open) again.push_back(s.port);
        });
        if (!status) return tl::unexpected(status.error());
        const auto left = util::time_left(give_up);
        if (again.empty() || left.count() == 0) break;
        const auto delay =
            util::exponential_backoff(k_wait_first_backoff, k_wait_max_backoff, round);
        if (!util::sleep_unless_stopped(std::min(delay, left)))
            return fail(ErrorKind::interrupted, "");
        ports = std::move(again);
    }
    for (const auto& [port, state] : latest) {
        count(state);
        observer.port_done(state);
    }
    return summary;
}

} // namespace nettool
