#include "duration_text.hpp"
#include "util/check.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nettool/happy_eyeballs.hpp>
#include <nettool/stop.hpp>
#include <sys/socket.h>

namespace nettool {

bool is_transient_connect_errno(int err) {
    switch (err) {
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ETIMEDOUT:
    case ECONNRESET:
    case ECONNABORTED:
    case EAGAIN: // a unix socket whose backlog is full
        return true;
    default:
        return false;
    }
}

Race::Race(std::vector<SocketAddress> candidates, Settings settings)
    : m_candidates(std::move(candidates)), m_settings(std::move(settings)),
      m_errors(m_candidates.size(), 0) {}

void Race::collect(std::vector<pollfd>& fds) const {
    for (const auto& attempt : m_attempts)
        fds.push_back(pollfd{attempt.fd.get(), POLLOUT, 0});
}

void Race::record_failure(std::size_t index, int err) {
    m_errors[index] = err != 0 ? err : ECONNREFUSED;
}

void Race::start_next(Clock::time_point now) {
    while (m_next < m_candidates.size() && !done()) {
        const std::size_t index = m_next++;
        m_last_start = now;
        const SocketAddress& target = m_candidates[index];
        UniqueFd fd(
            ::socket(target.family(), m_settings.socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) {
            record_failure(index, errno);
            continue;
        }
        if (m_settings.source) {
            const auto local = source_for_family(*m_settings.source, target.family());
            if (!local) {
                record_failure(index, EAFNOSUPPORT);
                continue;
            }
            if (m_settings.source->port != 0) {
                // Parallel attempts (and connect -z) share the source port; distinct peers make
                // the connections distinct, and SO_REUSEADDR lets the kernel allow it.
                const int one = 1;
                ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            }
            if (::bind(fd.get(), local->get(), local->length()) != 0) {
                record_failure(index, errno);
                continue;
            }
        }
        int rc;
        do {
            rc = ::connect(fd.get(), target.get(), target.length());
        } while (rc != 0 && errno == EINTR);
        if (rc == 0) {
            m_attempts.clear(); // the others lose the race
            m_result = Connected{std::move(fd), target};
            return;
        }
        if (errno == EINPROGRESS) {
            m_attempts.push_back(Attempt{std::move(fd), index});
            return;
        }
        record_failure(index, errno);
    }
}

void Race::advance(std::span<const pollfd> fds, Clock::time_point now) {
    if (done()) return;
    if (!m_started) {
        m_started = true;
        start_next(now);
    }
    bool failed_one = false;
    for (const auto& p : fds) {
        if (done() || p.revents == 0) continue;
        const auto it = std::find_if(m_attempts.begin(), m_attempts.end(),
                                     [&](const Attempt& a) { return a.fd.get() == p.fd; });
        if (it == m_attempts.end()) continue;
        int err = 0;
        socklen_t length = sizeof err;
        if (::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
        if (err == 0 && (p.revents & POLLOUT) != 0) {
            Connected winner{std::move(it->fd), m_candidates[it->index]};
            m_attempts.clear();
            m_result = std::move(winner);
            return;
        }
        record_failure(it->index, err);
        m_attempts.erase(it);
        failed_one = true;
    }
    if (done()) return;
    if (now >= m_settings.deadline) {
        finish_failed(true);
        return;
    }
    // A failure starts the next attempt at once; otherwise wait the attempt delay.
    if (m_next < m_candidates.size() &&
        (failed_one || m_attempts.empty() || now >= m_last_start + m_settings.attempt_delay)) {
        start_next(now);
    }
    if (!done() && m_attempts.empty() && m_next >= m_candidates.size()) finish_failed(false);
}

Clock::time_point Race::next_wakeup() const {
    if (!m_started) return Clock::time_point::min();
    auto wakeup = m_settings.deadline;
    if (m_next < m_candidates.size())
        wakeup = std::min(wakeup, m_last_start + m_settings.attempt_delay);
    return wakeup;
}

void Race::finish_failed(bool timed_out) {
    m_attempts.clear();
    std::vector<std::string> tried;
    std::vector<int> distinct;
    bool transient = true;
    for (std::size_t i = 0; i < m_candidates.size(); ++i) {
        if (m_errors[i] == 0) continue;
        tried.push_back(m_candidates[i].host());
        if (std::find(distinct.begin(), distinct.end(), m_errors[i]) == distinct.end())
            distinct.push_back(m_errors[i]);
        transient = transient && is_transient_connect_errno(m_errors[i]);
    }
    std::string target = m_settings.name;
    const bool literal = m_candidates.size() == 1 && m_candidates[0].display() == m_settings.name;
    if (!literal && !m_candidates.empty()) {
        std::vector<std::string> all;
        for (const auto& c : m_candidates)
            all.push_back(c.host());
        target += fmt::format(" ({})", fmt::join(all, ", "));
    }
    std::string reason;
    if (timed_out) {
        reason = fmt::format("timed out after {}", duration_text(m_settings.timeout));
        transient = true;
    } else if (distinct.size() == 1) {
        reason = errno_text(distinct[0]);
    } else {
        std::vector<std::string> parts;
        for (std::size_t i = 0; i < m_candidates.size(); ++i) {
            if (m_errors[i] != 0)
                parts.push_back(m_candidates[i].host() + ": " + errno_text(m_errors[i]));
        }
        reason = fmt::format("{}", fmt::join(parts, "; "));
    }
    const ErrorKind kind =
        distinct.size() == 1 && !timed_out ? kind_of_socket_errno(distinct[0]) : ErrorKind::network;
    const int cause = timed_out ? ETIMEDOUT : distinct.size() == 1 ? distinct[0] : 0;
    m_result = tl::unexpected(
        RaceFailure{Error{kind, fmt::format("connect to {}: {}", target, reason), cause, 0},
                    transient, reason});
}

tl::expected<Connected, RaceFailure> Race::take() {
    NETTOOL_CHECK(m_result.has_value()); // take() only once the race is done()
    auto result = std::move(*m_result);
    m_result.reset();
    return result;
}

tl::expected<Connected, RaceFailure> run_race(std::vector<SocketAddress> candidates,
                                              Race::Settings settings) {
    Race race(std::move(candidates), std::move(settings));
    std::vector<pollfd> fds;
    for (int rounds = 0; rounds < 1000000; ++rounds) {
        const auto now = Clock::now();
        fds.clear();
        race.collect(fds);
        race.advance(fds, now); // with revents 0 this only handles timers and starts attempts
        if (race.done()) return race.take();
        fds.clear();
        race.collect(fds);
        fds.push_back(pollfd{stop_fd(), POLLIN, 0});
        const auto wait =
            std::chrono::ceil<std::chrono::milliseconds>(race.next_wakeup() - Clock::now());
        const int timeout = static_cast<int>(std::clamp<long long>(wait.count(), 0, 60'000));
        const int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno != EINTR) {
            const int err = errno;
            return tl::unexpected(RaceFailure{
                Error{ErrorKind::generic, fmt::format("poll: {}", errno_text(err))}, false});
        }
        if (fds.back().revents != 0 || stop_requested()) {
            return tl::unexpected(RaceFailure{Error{ErrorKind::interrupted, ""}, false});
        }
        fds.pop_back();
        race.advance(fds, Clock::now());
        if (race.done()) return race.take();
    }
    return tl::unexpected(
        RaceFailure{Error{ErrorKind::generic, "connect: gave up after too many rounds"}, false});
}

} // namespace nettool
