#pragma once
// serve --to: connecting a client's forwarded connection to the first target that accepts.
// The happy-eyeballs race of each target (nettool/happy_eyeballs.hpp) runs on the server's
// event loop, never blocking it: its attempts are watched for writability and its timers are
// the connection's deadline. Targets are tried in order, the next when one refused every
// address.
#include "serve_internal.hpp"

#include <functional>
#include <nettool/happy_eyeballs.hpp>
#include <optional>
#include <string>
#include <vector>

namespace nettool::serve_detail {

class TargetConnector {
  public:
    // `changed` runs after each event handled, last (the owner may destroy the connector then).
    TargetConnector(EventLoop& loop, const std::vector<ForwardTarget>& targets,
                    std::function<void()> changed);
    TargetConnector(const TargetConnector&) = delete;
    TargetConnector& operator=(const TargetConnector&) = delete;
    ~TargetConnector();

    void start();
    bool done() const { return m_result.has_value(); }
    // Once done: the connected target, or why none took the connection.
    Result<Connected> take();
    // Once done and connected: which target took the connection.
    const ForwardTarget* winner() const { return m_winner; }
    std::optional<Clock::time_point> deadline() const;
    void on_deadline(Clock::time_point now);

  private:
    void next_target(Clock::time_point now);
    void advance(std::span<const pollfd> ready, Clock::time_point now);
    void watch_attempts();
    void unwatch_all();

    EventLoop& m_loop;
    const std::vector<ForwardTarget>& m_targets;
    std::function<void()> m_changed;
    std::size_t m_index = 0;
    std::optional<Race> m_race;
    std::vector<int> m_watched;
    std::vector<std::string> m_failures; // one sentence per target tried
    std::optional<Result<Connected>> m_result;
    const ForwardTarget* m_winner = nullptr;
};

} // namespace nettool::serve_detail
