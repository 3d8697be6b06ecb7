#include "progress_layout.hpp"

#include "escape.hpp"
#include "human_units.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace nettool::cli {
namespace {

constexpr std::size_t k_percent_width = 4; // "100%"
constexpr std::size_t k_bytes_width = 10;  // "1023.9 MiB"
constexpr std::size_t k_speed_width = 12;  // "1023.9 KiB/s"
constexpr std::size_t k_least_name = 8;    // a name shorter than this says little
constexpr std::size_t k_bar_name = 24;     // the single bar's name column
constexpr std::size_t k_least_bar = 7;     // "[==>  ]"
constexpr std::size_t k_field_gap = 2;     // spaces between the block's columns
constexpr auto k_rate_window = std::chrono::seconds(3);
constexpr auto k_rate_least_span = std::chrono::milliseconds(250);
constexpr auto k_rate_sample_gap = std::chrono::milliseconds(100);

// The usable width of a terminal `columns` wide: never its last column.
std::size_t usable(std::size_t columns) {
    return columns > 0 ? columns - 1 : 0;
}

std::string pad_left(std::string text, std::size_t width) {
    const std::size_t have = terminal_columns(text);
    return have >= width ? text : std::string(width - have, ' ') + text;
}

std::string pad_right(std::string text, std::size_t width) {
    const std::size_t have = terminal_columns(text);
    return have >= width ? text : text + std::string(width - have, ' ');
}

// The last `width` columns of `text`.
std::string last_columns(std::string_view text, std::size_t width) {
    std::vector<std::size_t> starts; // of each character
    for (std::size_t i = 0, length = 0; i < text.size(); i += length) {
        starts.push_back(i);
        (void)code_point_columns(text, i, length);
    }
    std::size_t cut = text.size();
    std::size_t kept = 0;
    for (auto it = starts.rbegin(); it != starts.rend(); ++it) {
        std::size_t length = 0;
        const std::size_t cols = code_point_columns(text, *it, length);
        if (kept + cols > width) break;
        kept += cols;
        cut = *it;
    }
    return std::string(text.substr(cut));
}

// A field of the block's lines, right-aligned in its column; `rank` orders what a narrow
// terminal drops first (lowest first).
struct Field {
    std::string text;
    int rank;
};

// NAME then the fields, NAME taking what the fields leave (shortened in the middle, and padded
// so that the columns of successive lines align); fields go before NAME is under `least_name`.
std::string name_and_fields(std::string_view name, std::vector<Field> fields, std::size_t width,
                            std::size_t least_name = k_least_name) {
    const auto fields_width = [&fields] {
        std::size_t n = 0;
        for (const auto& field : fields)
            n += k_field_gap + terminal_columns(field.text);
        return n;
    };
    while (!fields.empty() && fields_width() + least_name > width) {
        const auto lowest =
            std::min_element(fields.begin(), fields.end(),
                             [](const Field& a, const Field& b) { return a.rank < b.rank; });
        fields.erase(lowest);
    }
    const std::size_t room = width > fields_width() ? width - fields_width() : 0;
    std::string line = pad_right(elide_middle(name, room), room);
    for (const auto& field : fields)
        line += std::string(k_field_gap, ' ') + field.text;
    return clip_columns(line, width);
}

} // namespace

std::string shown_name(std::string_view path) {
    const auto slash = path.rfind('/');
    return escape_for_terminal(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string elide_middle(std::string_view text, std::size_t width) {
    if (terminal_columns(text) <= width) return std::string(text);
    if (width < 5) return last_columns(text, width);
    const std::size_t head = (width - 3) / 2;
    return clip_columns(text, head) + "..." + last_columns(text, width - 3 - head);
}

std::string clip_columns(std::string_view text, std::size_t width) {
    std::size_t kept = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t length = 0;
        const std::size_t cols = code_point_columns(text, i, length);
        if (kept + cols > width) break;
        kept += cols;
        i += length;
    }
    return std::string(text.substr(0, i));
}

void RateMeter::add(Clock::time_point now, std::uint64_t bytes) {
    // A count that went back (a download that started over) starts the measure again.
    if (!m_samples.empty() && bytes < m_samples.back().second) m_samples.clear();
    if (m_samples.size() >= 2 && now - m_samples[m_samples.size() - 2].first < k_rate_sample_gap)
        m_samples.back() = {now, bytes}; // one sample per tenth of a second is plenty
    else
        m_samples.emplace_back(now, bytes);
    while (m_samples.size() > 2 && now - m_samples[1].first >= k_rate_window)
        m_samples.pop_front();
}

std::optional<double> RateMeter::rate(Clock::time_point now) const {
    if (m_samples.empty()) return std::nullopt;
    const double span = std::chrono::duration<double>(now - m_samples.front().first).count();
    if (now - m_samples.front().first < k_rate_least_span) return std::nullopt;
    return static_cast<double>(m_samples.back().second - m_samples.front().second) / span;
}

std::string speed_text(std::optional<double> bytes_per_second) {
    if (!bytes_per_second) return "--/s";
    return human_bytes(static_cast<std::uint64_t>(std::max(0.0, *bytes_per_second))) + "/s";
}

std::string elapsed_text(double seconds) {
    if (seconds < 60) return fmt::format("{:.1f}s", std::max(0.0, seconds));
    return human_duration(std::chrono::seconds(static_cast<long long>(seconds)));
}

std::string transfer_line(const TransferView& transfer, std::size_t columns) {
    std::vector<Field> fields;
    if (transfer.total && *transfer.total > 0) {
        const auto percent =
            static_cast<int>(100.0 * std::min(1.0, static_cast<double>(transfer.done) /
                                                       static_cast<double>(*transfer.total)));
        fields.push_back({pad_left(fmt::format("{}%", percent), k_percent_width), 3});
        fields.push_back({pad_left(human_bytes(transfer.done), k_bytes_width), 1});
    } else {
        fields.push_back({pad_left(human_bytes(transfer.done), k_bytes_width), 3});
    }
    fields.push_back({pad_left(speed_text(transfer.speed), k_speed_width), 2});
    return name_and_fields(transfer.name, std::move(fields), usable(columns));
}

std::string total_line(const TotalView& total, std::size_t columns) {
    const std::size_t width = usable(columns);
    std::string counts = fmt::format("{}/{} files", total.ended, total.files);
    std::string ends; // ", 1 failed, 2 interrupted"
    if (total.failed > 0) ends += fmt::format(", {} failed", total.failed);
    if (total.interrupted > 0) ends += fmt::format(", {} interrupted", total.interrupted);
    std::string name = "total " + counts + (ends.empty() ? "" : " (" + ends.substr(2) + ")");
    // Narrow: the counts without their words around them.
    if (terminal_columns(name) >= width) name = counts + ends;
    std::vector<Field> fields = {{pad_left(human_bytes(total.bytes), k_bytes_width), 1},
                                 {pad_left(speed_text(total.speed), k_speed_width), 2}};
    // The counts are the point of this line: the fields go before any of its text does, and
    // then its end goes (a middle cut would take the counts).
    if (terminal_columns(name) >= width) return clip_columns(name, width);
    return name_and_fields(name, std::move(fields), width, terminal_columns(name));
}

std::vector<std::string> compose_block(const std::vector<TransferView>& active,
                                       const TotalView& total, std::size_t columns,
                                       std::size_t rows) {
    // rows - 2: the block never fills the screen, so that backing up over it stays on it.
    const std::size_t lines = rows >= 4 ? rows - 2 : 1;
    const std::size_t slots = lines - 1; // for the downloads, "+K more" included
    std::vector<std::string> block;
    if (active.size() <= slots) {
        for (const auto& transfer : active)
            block.push_back(transfer_line(transfer, columns));
    } else if (slots > 0) {
        for (std::size_t i = 0; i + 1 < slots; ++i)
            block.push_back(transfer_line(active[i], columns));
        block.push_back(
            clip_columns(fmt::format("+{} more", active.size() - (slots - 1)), usable(columns)));
    }
    block.push_back(total_line(total, columns));
    return block;
}

std::string bar_line(const BarView& bar, std::size_t columns) {
    const std::size_t width = usable(columns);
    const double fraction =
        std::min(1.0, static_cast<double>(bar.done) / static_cast<double>(bar.total));
    std::string eta = "--";
    if (bar.final) {
        eta = elapsed_text(bar.seconds);
    } else if (bar.speed && *bar.speed > 0) {
        eta = human_duration(std::chrono::seconds(static_cast<long long>(
            static_cast<double>(bar.total - std::min(bar.done, bar.total)) / *bar.speed)));
    }
    // In the order shown; `rank` is what goes first when the line is too wide (the bar is 2).
    std::vector<Field> fields = {
        {pad_left(fmt::format("{}%", static_cast<int>(fraction * 100.0)), k_percent_width), 5},
        {pad_left(human_bytes(bar.done), k_bytes_width), 1},
        {pad_left(speed_text(bar.speed), k_speed_width), 3},
        {fmt::format("{}{:>7}", bar.final ? "in " : "ETA ", eta), 0}};
    bool with_bar = true;
    const std::size_t name_columns = terminal_columns(bar.name);
    const std::size_t least_name = std::min(name_columns, std::size_t{12});
    for (;;) {
        std::size_t fixed = 0;
        for (const auto& field : fields)
            fixed += 1 + terminal_columns(field.text);
        const std::size_t room = width > fixed ? width - fixed : 0; // name (and bar)
        if (with_bar && room >= least_name + 1 + k_least_bar) {
            // The name's column first (up to 24), the bar what is left.
            const std::size_t name_width = std::min(k_bar_name, room - 1 - k_least_bar);
            const std::size_t bar_width = room - name_width - 1;
            const std::size_t inside = bar_width - 2;
            const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(inside));
            std::string drawn = "[" + std::string(filled, '=');
            if (filled < inside) drawn += '>' + std::string(inside - filled - 1, ' ');
            drawn += "]";
            std::string line = pad_right(elide_middle(bar.name, name_width), name_width);
            line += " " + drawn;
            for (const auto& field : fields)
                line += " " + field.text;
            return clip_columns(line, width);
        }
        if (!with_bar && (room >= least_name || fields.size() == 1)) {
            // Without room for a name at all (a very narrow terminal), the fields alone.
            const std::size_t name_width = std::min(room, k_bar_name);
            std::string line = pad_right(elide_middle(bar.name, name_width), name_width);
            for (const auto& field : fields)
                line += (line.empty() ? "" : " ") + field.text;
            return clip_columns(line, width);
        }
        // Drop the lowest: a field, or the bar when it is lower than every field left.
        const auto lowest =
            std::min_element(fields.begin(), fields.end(),
                             [](const Field& a, const Field& b) { return a.rank < b.rank; });
        if (with_bar && lowest->rank > 2)
            with_bar = false;
        else
            fields.erase(lowest);
    }
}

std::string summary_line(std::string_view name, std::uint64_t bytes, double seconds, double average,
                         std::size_t columns) {
    const std::size_t width = usable(columns);
    const std::string stats =
        fmt::format("{} in {}, {}", human_bytes(bytes), elapsed_text(seconds), speed_text(average));
    // The numbers are what the line is for: the name gives way first, down to 4 columns.
    const std::size_t stats_width = terminal_columns(stats);
    if (stats_width + k_field_gap + 4 <= width)
        return elide_middle(name, width - stats_width - k_field_gap) + "  " + stats;
    return clip_columns(stats, width);
}

std::string block_frame(const std::vector<std::string>& lines, std::size_t drawn) {
    std::string out;
    if (drawn > 0) out += fmt::format("\x1b[{}A", drawn);
    for (const auto& line : lines)
        out += "\r" + line + "\x1b[K\n";
    out += "\x1b[J";
    return out;
}

std::string block_erase(std::size_t drawn) {
    if (drawn == 0) return {};
    return fmt::format("\x1b[{}A\r\x1b[J", drawn);
}

} // namespace nettool::cli
