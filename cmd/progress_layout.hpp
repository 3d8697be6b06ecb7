#pragma once
// The text of retrieve's progress display, apart from any terminal: the single-download bar,
// the lines of the many-downloads block, and the control sequences that redraw the block in
// place. Every line it makes is narrower than the terminal it is given (at most columns - 1:
// a line that fills the last column makes some terminals wrap at once), whatever the width.
// Names come in escaped (escape.hpp) and are shortened in the middle, so that both their start
// and their end (the extension, a version) stay visible.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nettool::cli {

// The bar, the block and the JSON objects are redrawn (written) at most ~10 times a second.
inline constexpr std::chrono::milliseconds k_redraw_interval{100};

// What the display calls a download: the base name of its path, escaped (the name is foreign
// text: from the server with -O).
std::string shown_name(std::string_view path);

// At most `width` columns of `text`: unchanged when it fits, else its start and end around
// "..." (the end gets the odd column); under 5 columns, only its end. Never cuts a character.
std::string elide_middle(std::string_view text, std::size_t width);
// The first `width` columns of `text` (the last resort for a line that must fit).
std::string clip_columns(std::string_view text, std::size_t width);

// The recent speed of a byte count: the bytes added over the last few seconds, so that a
// stalled download's speed falls to 0 instead of keeping its old average.
class RateMeter {
  public:
    using Clock = std::chrono::steady_clock;
    void add(Clock::time_point now, std::uint64_t bytes);
    // Bytes per second, or nothing before a quarter of a second has been seen.
    std::optional<double> rate(Clock::time_point now) const;

  private:
    std::deque<std::pair<Clock::time_point, std::uint64_t>> m_samples;
};

// "1.2 MiB/s", or "--/s" when the speed is not known yet.
std::string speed_text(std::optional<double> bytes_per_second);
// "4.2s" under a minute, else "3:07".
std::string elapsed_text(double seconds);

// One download while it runs.
struct TransferView {
    std::string name; // escaped
    std::uint64_t done = 0;
    std::optional<std::uint64_t> total;
    std::optional<double> speed;
};

// All of them: files ended (failed and interrupted included) of all, the bytes received in
// this run.
struct TotalView {
    std::size_t ended = 0;
    std::size_t files = 0;
    std::size_t failed = 0;
    std::uint64_t bytes = 0;
    std::optional<double> speed;
    std::size_t interrupted = 0; // by a stop (SIGINT, SIGTERM): not a failure of their own
};

// "NAME  45%  12.3 MiB  1.2 MiB/s" (bytes only when the size is unknown); on a narrow terminal
// the bytes go first, then the speed, and the name is never shorter than 8 columns while
// anything else is shown.
std::string transfer_line(const TransferView& transfer, std::size_t columns);
// "total 3/8 files (1 failed, 2 interrupted)  12.3 MiB  1.2 MiB/s"; narrower, the bytes go, then
// the speed, and only then is the count cut.
std::string total_line(const TotalView& total, std::size_t columns);
// The block: a line per download in the order given, then the total line; with more
// downloads than `rows` - 2 lines leave room for, the last shown line is "+K more".
std::vector<std::string> compose_block(const std::vector<TransferView>& active,
                                       const TotalView& total, std::size_t columns,
                                       std::size_t rows);

// The single download's bar: "NAME [====>   ]  45%  12.3 MiB  1.2 MiB/s  ETA 0:42" (or
// "in 42s" when final); narrower, it drops the ETA, the bytes, the bar, then the speed.
struct BarView {
    std::string name; // escaped
    std::uint64_t done = 0;
    std::uint64_t total = 0; // known and > 0
    std::optional<double> speed;
    double seconds = 0;
    bool final = false;
};
std::string bar_line(const BarView& bar, std::size_t columns);
// The last line of a download whose size was unknown: "NAME  12.3 MiB in 4.2s, 3.0 MiB/s", the
// average speed (`average`: over the bytes this run received, fewer than `bytes` after a resume);
// the name shortened first, and left out under 4 columns.
std::string summary_line(std::string_view name, std::uint64_t bytes, double seconds, double average,
                         std::size_t columns);

// What redraws the block in place: back up over the `drawn` lines of the previous frame
// (the cursor is below them, at the start of a line), each line overwritten then cleared to
// its end, and whatever the old frame had below cleared. One string: one write.
std::string block_frame(const std::vector<std::string>& lines, std::size_t drawn);
// What removes the `drawn` lines of the block, leaving the cursor where its first line was.
std::string block_erase(std::size_t drawn);

} // namespace nettool::cli
