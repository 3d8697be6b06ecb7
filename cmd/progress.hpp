#pragma once
// What `retrieve` shows on stderr while it downloads: a bar on a terminal (name, percent,
// bytes, speed, ETA; progress_layout.hpp), within the terminal's width, redrawn at most 10
// times a second and finished on its own line (a summary when the size was unknown); or, when
// asked with --progress, plain lines or JSON Lines (urlretrieve's reporthook as objects).
// retrieve -i shows a block of lines instead on a terminal (progress_block.hpp); its line and
// JSON styles are one of these per download.
#include "common_options.hpp"
#include "progress_layout.hpp"
#include "terminal.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <nettool/retrieve.hpp>
#include <optional>
#include <string>

namespace nettool::cli {

enum class ProgressStyle { none, bar, line, json };

// --progress's choice, else a bar when stderr is a terminal, else nothing.
ProgressStyle choose_progress_style(std::optional<ProgressStyle> requested,
                                    const OutputOptions& output);

class ProgressDisplay final : public RetrieveObserver {
  public:
    // `url` is what is downloaded (for the JSON events), `line` its line in retrieve -i's list.
    ProgressDisplay(ProgressStyle style, const OutputOptions& output, std::string url,
                    std::optional<std::size_t> line = std::nullopt);

    void on_start(const std::string& path, std::optional<std::uint64_t> total,
                  std::uint64_t offset) override;
    void on_progress(std::uint64_t done, std::optional<std::uint64_t> total) override;
    void on_note(const std::string& message) override;
    void on_warning(const std::string& message) override;
    void on_retry(int retry, int max, std::chrono::milliseconds delay, const Error& why) override;
    void on_end(bool success) override;

  private:
    void draw(bool final);
    void clear_line();
    std::string bar_text(bool final);
    std::size_t columns(); // the terminal's, read again after a resize

    ProgressStyle m_style;
    const OutputOptions& m_output;
    std::string m_url;
    std::optional<std::size_t> m_line;
    std::string m_path;       // as core gave it, for JSON ("-" for stdout)
    std::string m_shown_name; // its base name, escaped, for the bar and the lines
    std::optional<std::uint64_t> m_total;
    std::uint64_t m_done = 0;
    std::uint64_t m_offset = 0; // bytes that were there before this transfer (speed excludes them)
    std::chrono::steady_clock::time_point m_started;
    std::chrono::steady_clock::time_point m_last_draw;
    RateMeter m_meter;
    std::unique_ptr<ResizeWatch> m_resize_watch; // with the bar only
    std::optional<std::size_t> m_columns;
    bool m_started_once = false;
    bool m_line_dirty = false;       // a bar is on screen without its newline
    std::size_t m_drawn_columns = 0; // how wide the bar on screen is
};

} // namespace nettool::cli
