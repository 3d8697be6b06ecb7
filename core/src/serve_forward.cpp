#include "serve_forward.hpp"

#include "util/check.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace nettool::serve_detail {
namespace {

// How long one target gets to accept (all its addresses); then the next is tried.
constexpr std::chrono::seconds k_target_timeout{10};

} // namespace

TargetConnector::TargetConnector(EventLoop& loop, const std::vector<ForwardTarget>& targets,
                                 std::function<void()> changed)
    : m_loop(loop), m_targets(targets), m_changed(std::move(changed)) {
    NETTOOL_CHECK(!m_targets.empty());
}

TargetConnector::~TargetConnector() {
    unwatch_all(); // before the race closes its attempts
}

void TargetConnector::start() {
    next_target(Clock::now());
}

void TargetConnector::next_target(Clock::time_point now) {
    while (!done()) {
        if (m_index == m_targets.size()) {
            m_race.reset();
            m_result = fail(ErrorKind::network, fmt::format("no target took the connection: {}",
                                                            fmt::join(m_failures, "; ")));
            return;
        }
        const ForwardTarget& target = m_targets[m_index++];
        Race::Settings settings;
        settings.timeout = k_target_timeout;
        settings.deadline = now + k_target_timeout;
        settings.name = target.name;
        m_race.emplace(target.addresses, std::move(settings));
        advance({}, now);   // starts the first attempt; a Unix socket may connect at once
        if (m_race) return; // in progress
    }
}

// Drives the race; when it ends, takes the winner or moves on to the next target.
void TargetConnector::advance(std::span<const pollfd> ready, Clock::time_point now) {
    unwatch_all(); // the race may close attempts (and reuse their numbers) in here
    m_race->advance(ready, now);
    if (!m_race->done()) {
        watch_attempts();
        return;
    }
    auto outcome = m_race->take();
    m_race.reset();
    if (outcome) {
        m_winner = &m_targets[m_index - 1];
        m_result = std::move(*outcome);
        return;
    }
    m_failures.push_back(outcome.error().error.message);
    next_target(now);
}

void TargetConnector::watch_attempts() {
    std::vector<pollfd> fds;
    m_race->collect(fds);
    for (const auto& p : fds) {
        const int fd = p.fd;
        auto added = m_loop.add(fd, io::writable, [this, fd](std::uint32_t events) {
            if (!done() && m_race) {
                short revents = 0;
                if ((events & io::writable) != 0) revents |= POLLOUT;
                if ((events & io::error) != 0) revents |= POLLERR;
                if ((events & io::hangup) != 0) revents |= POLLHUP;
                const pollfd answer{fd, POLLOUT, revents};
                advance(std::span<const pollfd>(&answer, 1), Clock::now());
            }
            // A copy: the owner may destroy this connector (and m_changed) in the call.
            if (m_changed) {
                const auto changed = m_changed;
                changed();
            }
        });
        if (added) m_watched.push_back(fd);
    }
}

void TargetConnector::unwatch_all() {
    for (const int fd : m_watched)
        m_loop.remove(fd);
    m_watched.clear();
}

Result<Connected> TargetConnector::take() {
    NETTOOL_CHECK(m_result.has_value());
    unwatch_all();
    auto result = std::move(*m_result);
    m_result.reset();
    return result;
}

std::optional<Clock::time_point> TargetConnector::deadline() const {
    if (done() || !m_race) return std::nullopt;
    return m_race->next_wakeup();
}

void TargetConnector::on_deadline(Clock::time_point now) {
    if (!done() && m_race) advance({}, now);
}

} // namespace nettool::serve_detail
