#include "split_plan.hpp"

#include <algorithm>
#include <iterator>

namespace nettool {
namespace {

// Split points fall on this boundary where the halves allow (whole pages for the writes).
constexpr std::uint64_t k_split_alignment = 64 * 1024;
// The governor's thresholds, as shares of the gain the added connections would bring if each
// were as fast as the ones before: below k_keep_share no more are added; at k_full_share or
// more the rest up to the cap come at once. Added connections that raise the total by less
// than k_drop_share of what it was are taken away again.
constexpr double k_keep_share = 0.5;
constexpr double k_full_share = 0.8;
constexpr double k_drop_share = 0.25;
// A window may end early once it saw this many bytes per connection: many times what a
// server that sends in bursts (nginx's limit_rate, 2 MiB at a time) puts in one burst.
constexpr std::uint64_t k_window_bytes_per_connection = 32 * 1024 * 1024;

} // namespace

SegmentPlan::SegmentPlan(std::uint64_t length) : m_length(length) {
    if (length > 0) m_segments.emplace(0, Segment{length, 0});
}

std::optional<SegmentPlan> SegmentPlan::from_meta(std::uint64_t length,
                                                  const std::vector<PartSegment>& segments) {
    SegmentPlan plan;
    plan.m_length = length;
    std::uint64_t expected = 0;
    for (const auto& segment : segments) {
        if (segment.start != expected || segment.end <= segment.start || segment.end > length ||
            segment.done > segment.end - segment.start)
            return std::nullopt;
        plan.m_segments.emplace(segment.start, Segment{segment.end, segment.done});
        expected = segment.end;
    }
    if (expected != length) return std::nullopt;
    return plan;
}

std::uint64_t SegmentPlan::received() const {
    std::uint64_t sum = 0;
    for (const auto& [start, segment] : m_segments)
        sum += segment.done;
    return sum;
}

std::uint64_t SegmentPlan::remaining(std::uint64_t start) const {
    const Segment& segment = m_segments.at(start);
    return segment.end - start - segment.done;
}

std::optional<std::uint64_t>
SegmentPlan::next_idle(std::chrono::steady_clock::time_point now) const {
    for (const auto& [start, segment] : m_segments) {
        if (!segment.busy && segment.end - start > segment.done && segment.not_before <= now)
            return start;
    }
    return std::nullopt;
}

std::optional<std::chrono::steady_clock::time_point> SegmentPlan::next_wake() const {
    std::optional<std::chrono::steady_clock::time_point> earliest;
    for (const auto& [start, segment] : m_segments) {
        if (segment.busy || segment.end - start == segment.done) continue;
        if (!earliest || segment.not_before < *earliest) earliest = segment.not_before;
    }
    return earliest;
}

std::optional<std::uint64_t> SegmentPlan::split_largest(std::uint64_t min_piece) {
    auto largest = m_segments.end();
    std::uint64_t most = 0;
    for (auto it = m_segments.begin(); it != m_segments.end(); ++it) {
        const std::uint64_t left = it->second.end - it->first - it->second.done;
        if (left > most) {
            most = left;
            largest = it;
        }
    }
    if (largest == m_segments.end() || most / 2 < std::max<std::uint64_t>(min_piece, 1))
        return std::nullopt;
    const std::uint64_t from = largest->first + largest->second.done;
    std::uint64_t middle = from + most / 2;
    const std::uint64_t aligned = middle / k_split_alignment * k_split_alignment;
    if (aligned - from >= min_piece && largest->second.end - aligned >= min_piece) middle = aligned;
    Segment upper{largest->second.end, 0};
    largest->second.end = middle;
    m_segments.emplace(middle, upper);
    return middle;
}

std::optional<std::uint64_t> SegmentPlan::previous(std::uint64_t start) const {
    auto it = m_segments.find(start);
    if (it == m_segments.end() || it == m_segments.begin()) return std::nullopt;
    return std::prev(it)->first;
}

void SegmentPlan::merge_into_previous(std::uint64_t start) {
    auto it = m_segments.find(start);
    if (it == m_segments.end() || it == m_segments.begin()) return;
    std::prev(it)->second.end = it->second.end;
    m_segments.erase(it);
}

std::vector<PartSegment> SegmentPlan::to_meta() const {
    std::vector<PartSegment> out;
    for (const auto& [start, segment] : m_segments) {
        if (!out.empty() && out.back().done == out.back().end - out.back().start) {
            // The bytes before `start` are all there: one segment holds both.
            out.back().done += segment.done;
            out.back().end = segment.end;
            continue;
        }
        out.push_back({start, segment.end, segment.done});
    }
    return out;
}

SplitGovernor::SplitGovernor(std::size_t max_connections, std::chrono::milliseconds window)
    : m_max(std::max<std::size_t>(max_connections, 1)), m_window(window) {
    m_settled = m_max == 1;
}

void SplitGovernor::sample(Clock::time_point now, std::uint64_t received, std::size_t flowing) {
    if (m_settled) return;
    if (flowing < m_target) {
        m_window_start.reset(); // a connection is still starting: the rate is not its yet
        return;
    }
    if (!m_window_start) {
        m_window_start = now;
        m_window_bytes = received;
        return;
    }
    const auto elapsed = std::chrono::duration<double>(now - *m_window_start).count();
    const std::uint64_t bytes = received - m_window_bytes;
    // A window that saw this many bytes is measured well enough after a quarter of its time:
    // a fast connection is not kept waiting with a second one that does not help.
    const bool enough =
        now - *m_window_start >= m_window / 4 && bytes >= k_window_bytes_per_connection * m_target;
    if ((now - *m_window_start < m_window && !enough) || elapsed <= 0) return;
    const double rate = static_cast<double>(bytes) / elapsed;
    m_window_start.reset();
    bool full_gain = false;
    if (m_previous_rate) {
        const double added = static_cast<double>(m_target - m_previous_target);
        const double ideal_gain = *m_previous_rate * added / static_cast<double>(m_previous_target);
        const double gain = rate - *m_previous_rate;
        if (gain < ideal_gain * k_keep_share && m_jumped) {
            // The cap was more than the server gives: climb from where the jump began, a
            // doubling at a time, measured against the same rate.
            m_jumped = false;
            m_may_jump = false;
            m_target = std::min(m_max, m_previous_target * 2);
            return;
        }
        if (gain < ideal_gain * k_keep_share) {
            m_settled = true;
            // Connections that add (almost) nothing only share what the others had: they cost
            // both ends CPU for no gain, so they go.
            if (gain < *m_previous_rate * k_drop_share) m_target = m_previous_target;
            return;
        }
        full_gain = m_may_jump && gain >= ideal_gain * k_full_share;
    }
    m_previous_rate = rate;
    m_previous_target = m_target;
    // Connections as fast as the ones before them: the server limits each one, and every
    // connection up to the cap likely will be too, so they all come at once rather than a
    // doubling per window.
    const std::size_t doubled = std::min(m_max, m_target * 2);
    m_jumped = full_gain && m_max > doubled;
    m_target = m_jumped ? m_max : doubled;
    if (m_target == m_previous_target) m_settled = true;
}

} // namespace nettool
