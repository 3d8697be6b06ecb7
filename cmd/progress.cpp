#include "progress.hpp"

#include "human_units.hpp"
#include "json_lines.hpp"
#include "messages.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <nettool/utf8.hpp>
#include <sys/ioctl.h>
#include <unistd.h>

namespace nettool::cli {
namespace {

constexpr auto k_bar_interval = std::chrono::milliseconds(100); // at most ~10 redraws a second
constexpr auto k_line_interval = std::chrono::seconds(1);

void write_stderr(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
}

int terminal_width() {
    winsize size{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 40) return size.ws_col;
    return 80;
}

// Shortens an (escaped) name to `width` columns, never inside a UTF-8 sequence, or pads it.
std::string fit(const std::string& name, std::size_t width) {
    const std::size_t have = terminal_columns(name);
    if (have <= width) return name + std::string(width - have, ' ');
    std::size_t cut = 0;
    for (std::size_t kept = 0; cut < name.size(); ++cut) {
        if (!is_utf8_continuation(static_cast<unsigned char>(name[cut])) && kept++ == width - 3)
            break;
    }
    return name.substr(0, cut) + "...";
}

} // namespace

ProgressStyle choose_progress_style(std::optional<ProgressStyle> requested,
                                    const OutputOptions& output) {
    if (requested) return *requested;
    if (output.quiet || output.json) return ProgressStyle::none;
    return ::isatty(STDERR_FILENO) ? ProgressStyle::bar : ProgressStyle::none;
}

ProgressDisplay::ProgressDisplay(ProgressStyle style, const OutputOptions& output, std::string url)
    : m_style(style), m_output(output), m_url(std::move(url)) {}

void ProgressDisplay::on_start(const std::string& path, std::optional<std::uint64_t> total,
                               std::uint64_t offset) {
    m_path = path;
    const auto slash = path.rfind('/');
    // The name is foreign text (from the server with -O): escaped before it is drawn.
    m_shown_name = escape_for_terminal(slash == std::string::npos ? path : path.substr(slash + 1));
    m_total = total;
    m_offset = offset;
    m_done = offset;
    m_started = std::chrono::steady_clock::now();
    m_last_draw = {};
    m_started_once = true;
    draw(false);
}

void ProgressDisplay::on_progress(std::uint64_t done, std::optional<std::uint64_t> total) {
    m_done = done;
    if (total) m_total = total;
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

// The bar is overwritten with spaces rather than erased with a control sequence: nettool
// writes no escape sequences at all, so any in its output would be a bug.
void ProgressDisplay::clear_line() {
    if (m_style == ProgressStyle::bar && m_line_dirty) {
        write_stderr("\r" + std::string(m_drawn_columns, ' ') + "\r");
        m_line_dirty = false;
    }
}

std::string ProgressDisplay::bar_text(bool final) const {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
    const double speed = seconds > 0.05 ? static_cast<double>(m_done - m_offset) / seconds : 0.0;
    const std::string rate = human_bytes(static_cast<std::uint64_t>(speed)) + "/s";
    const int width = terminal_width();
    if (!m_total || *m_total == 0) {
        return fmt::format("{} {:>10} {:>12}", fit(m_shown_name, 24), human_bytes(m_done), rate);
    }
    const double fraction =
        std::min(1.0, static_cast<double>(m_done) / static_cast<double>(*m_total));
    const int percent = static_cast<int>(fraction * 100.0);
    std::string eta = "--";
    if (final)
        eta = human_duration(std::chrono::seconds(static_cast<long long>(seconds)));
    else if (speed > 0) {
        eta = human_duration(std::chrono::seconds(static_cast<long long>(
            static_cast<double>(*m_total - std::min(m_done, *m_total)) / speed)));
    }
    const std::string tail = fmt::format(" {:3}% {:>10} {:>12} {}{:>7}", percent,
                                         human_bytes(m_done), rate, final ? "in " : "ETA ", eta);
    const int bar_width = std::max(10, width - 24 - 3 - static_cast<int>(tail.size()) - 1);
    const int filled = static_cast<int>(fraction * bar_width);
    std::string bar = "[" + std::string(static_cast<std::size_t>(filled), '=');
    if (filled < bar_width)
        bar += '>' + std::string(static_cast<std::size_t>(bar_width - filled - 1), ' ');
    bar += "]";
    return fmt::format("{} {}{}", fit(m_shown_name, 24), bar, tail);
}

void ProgressDisplay::draw(bool final) {
    if (m_style == ProgressStyle::none || !m_started_once) return;
    const auto now = std::chrono::steady_clock::now();
    const auto interval =
        m_style == ProgressStyle::line
            ? std::chrono::duration_cast<std::chrono::milliseconds>(k_line_interval)
            : k_bar_interval;
    if (!final && m_last_draw != std::chrono::steady_clock::time_point{} &&
        now - m_last_draw < interval)
        return;
    m_last_draw = now;
    switch (m_style) {
    case ProgressStyle::bar: {
        std::string text = bar_text(final);
        const std::size_t drawn = terminal_columns(text);
        // Spaces over what a longer earlier bar left.
        if (drawn < m_drawn_columns) text += std::string(m_drawn_columns - drawn, ' ');
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
        write_stderr(json_line({{"event", "progress"},
                                {"url", m_url},
                                {"path", m_path},
                                {"bytes", m_done},
                                {"total", m_total ? Json(*m_total) : Json()},
                                {"seconds", seconds},
                                {"done", final}}));
        break;
    }
    case ProgressStyle::none:
        break;
    }
}

} // namespace nettool::cli
