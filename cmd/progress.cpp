#include "progress.hpp"

#include "human_units.hpp"
#include "json_lines.hpp"
#include "messages.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <unistd.h>

namespace nettool::cli {
namespace {

constexpr auto k_line_interval = std::chrono::seconds(1);

void write_stderr(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
}

} // namespace

ProgressStyle choose_progress_style(std::optional<ProgressStyle> requested,
                                    const OutputOptions& output) {
    if (requested) return *requested;
    if (output.quiet || output.json) return ProgressStyle::none;
    return ::isatty(STDERR_FILENO) ? ProgressStyle::bar : ProgressStyle::none;
}

ProgressDisplay::ProgressDisplay(ProgressStyle style, const OutputOptions& output, std::string url,
                                 std::optional<std::size_t> line)
    : m_style(style), m_output(output), m_url(std::move(url)), m_line(line) {
    if (m_style == ProgressStyle::bar) m_resize_watch = std::make_unique<ResizeWatch>();
}

std::size_t ProgressDisplay::columns() {
    if (!m_columns || (m_resize_watch && m_resize_watch->resized()))
        m_columns = terminal_size(STDERR_FILENO).value_or(TerminalSize{}).columns;
    return *m_columns;
}

void ProgressDisplay::on_start(const std::string& path, std::optional<std::uint64_t> total,
                               std::uint64_t offset) {
    m_path = path;
    m_shown_name = shown_name(path);
    m_total = total;
    m_offset = offset;
    m_done = offset;
    m_started = std::chrono::steady_clock::now();
    m_meter = {};
    m_meter.add(m_started, offset);
    m_last_draw = {};
    m_started_once = true;
    draw(false);
}

void ProgressDisplay::on_progress(std::uint64_t done, std::optional<std::uint64_t> total) {
    m_done = done;
    if (total) m_total = total;
    m_meter.add(std::chrono::steady_clock::now(), done);
    draw(false);
}

void ProgressDisplay::on_note(const std::string& message) {
    if (m_output.quiet) return;
    clear_line();
    print_note(message);
}

void ProgressDisplay::on_warning(const std::string& message) {
    clear_line();
    print_warning(message);
}

void ProgressDisplay::on_retry(int retry, int max, std::chrono::milliseconds delay,
                               const Error& why) {
    if (m_output.quiet) return;
    clear_line();
    print_warning(fmt::format("{}; retrying in {:.1f} s (retry {} of {})", why.message,
                              static_cast<double>(delay.count()) / 1000.0, retry, max));
}

void ProgressDisplay::on_end(bool success) {
    if (!m_started_once) return;
    if (success && m_total && m_done < *m_total)
        m_done = *m_total; // e.g. resumed, already complete
    draw(true);
    if (m_style == ProgressStyle::bar && m_line_dirty) {
        write_stderr("\n");
        m_line_dirty = false;
    }
    m_drawn_columns = 0;
    m_started_once = false;
}

// The bar is overwritten with spaces rather than erased with a control sequence, so that the
// single bar stays plain text (only retrieve -i's block, which must move the cursor up, writes
// control sequences). Never past the terminal's width: after it narrowed, the spaces would wrap.
void ProgressDisplay::clear_line() {
    if (m_style == ProgressStyle::bar && m_line_dirty) {
        const std::size_t blank = std::min(m_drawn_columns, columns() - 1);
        write_stderr("\r" + std::string(blank, ' ') + "\r");
        m_line_dirty = false;
    }
}

std::string ProgressDisplay::bar_text(bool final) {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - m_started).count();
    // A download that started over (a server that ignored the range) has fewer than m_offset.
    const std::uint64_t received = m_done > m_offset ? m_done - m_offset : 0;
    const double average = seconds > 0 ? static_cast<double>(received) / seconds : 0.0;
    if (!m_total || *m_total == 0) {
        if (final) return summary_line(m_shown_name, m_done, seconds, average, columns());
        return transfer_line({m_shown_name, m_done, std::nullopt, m_meter.rate(now)}, columns());
    }
    return bar_line(
        {m_shown_name, m_done, *m_total, final ? average : m_meter.rate(now), seconds, final},
        columns());
}

void ProgressDisplay::draw(bool final) {
    if (m_style == ProgressStyle::none || !m_started_once) return;
    const auto now = std::chrono::steady_clock::now();
    const auto interval =
        m_style == ProgressStyle::line
            ? std::chrono::duration_cast<std::chrono::milliseconds>(k_line_interval)
            : k_redraw_interval;
    if (!final && m_last_draw != std::chrono::steady_clock::time_point{} &&
        now - m_last_draw < interval)
        return;
    m_last_draw = now;
    switch (m_style) {
    case ProgressStyle::bar: {
        std::string text = bar_text(final);
        const std::size_t drawn = terminal_columns(text);
        // Spaces over what a longer earlier bar left (within the width: see clear_line()).
        const std::size_t blank = std::min(m_drawn_columns, columns() - 1);
        if (drawn < blank) text += std::string(blank - drawn, ' ');
        m_drawn_columns = drawn;
        write_stderr("\r" + text);
        m_line_dirty = true;
        break;
    }
    case ProgressStyle::line: {
        std::string line = fmt::format("{}: {}", m_shown_name, human_bytes(m_done));
        if (m_total && *m_total > 0) {
            line += fmt::format(" of {} ({}%)", human_bytes(*m_total),
                                static_cast<int>(100.0 * static_cast<double>(m_done) /
                                                 static_cast<double>(*m_total)));
        }
        write_stderr(line + (final ? ", done\n" : "\n"));
        break;
    }
    case ProgressStyle::json: {
        const double seconds = std::chrono::duration<double>(now - m_started).count();
        Json event = {{"event", "progress"},
                      {"url", m_url},
                      {"path", m_path},
                      {"bytes", m_done},
                      {"total", m_total ? Json(*m_total) : Json()},
                      {"seconds", seconds},
                      {"done", final}};
        if (m_line) event["line"] = *m_line;
        write_stderr(json_line(event));
        break;
    }
    case ProgressStyle::none:
        break;
    }
}

} // namespace nettool::cli
