#pragma once
// Connecting to one of several addresses the happy-eyeballs way (RFC 8305): attempts start
// in order (use interleave_families() first), the next one 250 ms after the previous if that
// has not finished, at once when it fails; the first to succeed wins and the others are
// closed. Non-blocking throughout: a Race is a state machine that the caller's poll() loop
// drives, so one loop can drive one race (connect) or many (connect -z).
#include <chrono>
#include <nettool/error.hpp>
#include <nettool/resolve.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <poll.h>
#include <span>
#include <string>
#include <vector>

namespace nettool {

using Clock = std::chrono::steady_clock;

struct Connected {
    UniqueFd fd; // non-blocking, close-on-exec
    SocketAddress peer;
    // Through a proxy: "localhost:80 through the proxy socks5h://127.0.0.1:1080" (peer is then
    // the proxy's address); empty for a direct connection.
    std::string through_proxy{};
};

// Why a race failed: the error to report, and whether trying again later could help
// (refused, unreachable, timed out: a service that is still starting).
struct RaceFailure {
    Error error;
    bool transient = false;
    std::string reason{}; // the error without its "connect to NAME: " ("connection refused")
};

class Race {
  public:
    struct Settings {
        int socktype = SOCK_STREAM;
        std::optional<SourceAddress> source;
        std::chrono::milliseconds attempt_delay{250};
        Clock::time_point deadline = Clock::time_point::max();
        std::chrono::milliseconds timeout{0}; // only for the "timed out after" message
        std::string name;                     // "localhost:80" as the user wrote it
    };

    Race(std::vector<SocketAddress> candidates, Settings settings);
    Race(const Race&) = delete;
    Race& operator=(const Race&) = delete;
    Race(Race&&) = default;
    Race& operator=(Race&&) = default;

    // Appends the descriptors to watch (POLLOUT on each attempt in progress).
    void collect(std::vector<pollfd>& fds) const;
    // Handles poll()'s answers for this race's descriptors and the timers; starts attempts.
    void advance(std::span<const pollfd> fds, Clock::time_point now);
    // When advance() must run again even without descriptor activity.
    Clock::time_point next_wakeup() const;

    bool done() const { return m_result.has_value(); }
    // Valid once done(); moves the result out.
    tl::expected<Connected, RaceFailure> take();

  private:
    struct Attempt {
        UniqueFd fd;
        std::size_t index = 0;
    };
    void start_next(Clock::time_point now);
    void record_failure(std::size_t index, int err);
    void finish_failed(bool timed_out);

    std::vector<SocketAddress> m_candidates;
    Settings m_settings;
    std::vector<Attempt> m_attempts;
    std::vector<int> m_errors; // errno per candidate, 0 while untried or pending
    std::size_t m_next = 0;
    Clock::time_point m_last_start{};
    bool m_started = false;
    std::optional<tl::expected<Connected, RaceFailure>> m_result;
};

// Drives one race in its own poll() loop, also watching stop_fd() (a stop request fails it
// with ErrorKind::interrupted).
tl::expected<Connected, RaceFailure> run_race(std::vector<SocketAddress> candidates,
                                              Race::Settings settings);

// --wait (connect, connect -z) pauses between attempts: 100 ms, doubling, at most 1 s.
inline constexpr std::chrono::milliseconds k_wait_first_backoff{100};
inline constexpr std::chrono::milliseconds k_wait_max_backoff{1000};

// Whether an errno from connect() may go away by itself (a server still starting).
bool is_transient_connect_errno(int err);

} // namespace nettool
