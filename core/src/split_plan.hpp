#pragma once
// The two decisions of a segmented download (retrieve --split), kept free of I/O so that they
// are testable: which bytes each connection fetches (SegmentPlan) and how many connections
// are worth having (SplitGovernor).
#include <chrono>
#include <cstdint>
#include <map>
#include <nettool/part_meta.hpp>
#include <optional>
#include <vector>

namespace nettool {

// The resource's bytes [0, length) as segments, each fetched in order by at most one
// connection at a time. A segment is known by its start, which never changes: splitting
// shortens a segment's end and adds a new one for the rest.
class SegmentPlan {
  public:
    struct Segment {
        std::uint64_t end = 0;
        std::uint64_t done = 0;                             // bytes from the start on disk
        bool busy = false;                                  // a connection fetches it now
        std::chrono::steady_clock::time_point not_before{}; // a retry waits until then
    };

    // One segment over everything.
    explicit SegmentPlan(std::uint64_t length);
    // From a sidecar's map; nullopt unless it covers [0, length) without a gap.
    static std::optional<SegmentPlan> from_meta(std::uint64_t length,
                                                const std::vector<PartSegment>& segments);

    std::uint64_t length() const { return m_length; }
    std::uint64_t received() const;
    bool complete() const { return received() == m_length; }
    std::uint64_t remaining(std::uint64_t start) const;
    Segment& at(std::uint64_t start) { return m_segments.at(start); }
    const Segment& at(std::uint64_t start) const { return m_segments.at(start); }

    // An idle segment with bytes left whose wait is over (the lowest first).
    std::optional<std::uint64_t> next_idle(std::chrono::steady_clock::time_point now) const;
    // The earliest end of a retry's wait among idle unfinished segments.
    std::optional<std::chrono::steady_clock::time_point> next_wake() const;
    // Halves the segment with the most bytes left, when each half would hold at least
    // `min_piece`: the upper half becomes a new idle segment, whose start is returned.
    std::optional<std::uint64_t> split_largest(std::uint64_t min_piece);
    // The segment just before the one at `start`, if any.
    std::optional<std::uint64_t> previous(std::uint64_t start) const;
    // Gives the segment at `start` back to the one before it, which then ends where it ended.
    // Its bytes on disk are no longer counted: whoever fetches the longer segment writes them
    // again (or skips them, knowing they are there).
    void merge_into_previous(std::uint64_t start);

    // The map for the sidecar: adjacent segments merged where the first is complete (the
    // count stays small however often the plan was split).
    std::vector<PartSegment> to_meta() const;

  private:
    SegmentPlan() = default;
    std::uint64_t m_length = 0;
    std::map<std::uint64_t, Segment> m_segments; // by start
};

// How many connections a segmented download keeps: it starts with one and, after each
// measuring window, doubles them (up to the cap) while the doubling raised the total rate by
// at least half of what it would have if each connection were as fast as before. A doubling
// that brought (nearly) all of that goes straight to the cap instead; should the cap not pay,
// the doubling resumes from where the jump began. The first time the total did not rise
// enough, it stops adding for good, and takes the connections just added away again when
// they raised it by less than a quarter. A single fast connection is so kept alone, while
// connections limited one by one are multiplied at once.
class SplitGovernor {
  public:
    using Clock = std::chrono::steady_clock;
    SplitGovernor(std::size_t max_connections, std::chrono::milliseconds window);

    // How many connections to have now (it may go down once, after a doubling that did not pay).
    std::size_t target() const { return m_target; }
    bool settled() const { return m_settled; }
    // `received`: bytes of the resource so far; `flowing`: connections that are receiving
    // (a window measures only while all `target` of them are).
    void sample(Clock::time_point now, std::uint64_t received, std::size_t flowing);

  private:
    std::size_t m_max;
    std::chrono::milliseconds m_window;
    std::size_t m_target = 1;
    bool m_settled = false;
    std::optional<Clock::time_point> m_window_start;
    std::uint64_t m_window_bytes = 0;
    std::optional<double> m_previous_rate;
    std::size_t m_previous_target = 0;
    bool m_jumped = false;  // m_target is the cap, reached past a doubling
    bool m_may_jump = true; // no jump has failed yet
};

} // namespace nettool
