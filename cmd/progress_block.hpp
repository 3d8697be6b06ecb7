#pragma once
// retrieve -i's display on a terminal: a line per running download and a total line, redrawn
// in place (progress_layout.hpp) at most 10 times a second, within the terminal's width, read
// again after each SIGWINCH. Downloads report from several threads: one lock keeps every
// write whole, and anything else printed while the block is up (a result on stdout, an error
// on stderr) goes through print_above(), which takes the block away first.
#include "common_options.hpp"
#include "progress_layout.hpp"
#include "terminal.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nettool/retrieve.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nettool::cli {

// Where the block goes: stderr and its size in the binary, a recording in the unit tests.
struct BlockTerminal {
    std::function<void(std::string_view)> write;
    std::function<TerminalSize()> size;
    std::function<bool()> resized; // true when the size must be read again
};

// The terminal on stderr: its size by TIOCGWINSZ (80 x 24 when it reports none), and a
// ResizeWatch for SIGWINCH held by the returned object's functions.
BlockTerminal stderr_terminal();

class ProgressBlock {
  public:
    ProgressBlock(std::size_t files, const OutputOptions& output, BlockTerminal terminal);
    ~ProgressBlock();
    ProgressBlock(const ProgressBlock&) = delete;
    ProgressBlock& operator=(const ProgressBlock&) = delete;

    // The observer of download `index` (made on the first call).
    RetrieveObserver& observer_for(std::size_t index);
    // Download `index` ended: counted in the total line.
    enum class Ended { saved, failed, interrupted }; // saved: or up to date
    void ended(std::size_t index, Ended how);
    // Runs `print` with the block off the screen when `on_terminal` (what it prints shares the
    // terminal), then draws the block again when a redraw is due.
    void print_above(bool on_terminal, const std::function<void()>& print);
    // The end: the block goes, the total line stays (with the run's average speed).
    void finish();

  private:
    class Slot;
    friend class Slot;
    struct Transfer {
        std::string name; // escaped base name
        std::uint64_t done = 0;
        std::optional<std::uint64_t> total;
        RateMeter meter;
    };

    void start(std::size_t index, const std::string& path, std::optional<std::uint64_t> total,
               std::uint64_t offset);
    void progress(std::size_t index, std::uint64_t done, std::optional<std::uint64_t> total);
    void stop(std::size_t index);
    void message(const std::function<void()>& print); // print_above(true, ...)
    // Under m_mutex.
    void draw();
    void erase();
    TotalView total_view(RateMeter::Clock::time_point now) const;

    const OutputOptions& m_output;
    BlockTerminal m_terminal;
    std::mutex m_mutex;
    std::map<std::size_t, Transfer> m_transfers; // in list order
    std::vector<std::unique_ptr<Slot>> m_slots;
    std::size_t m_files = 0;
    std::size_t m_ended = 0;
    std::size_t m_failed = 0;
    std::size_t m_interrupted = 0;
    std::uint64_t m_bytes = 0; // received in this run, over all downloads
    RateMeter m_meter;
    RateMeter::Clock::time_point m_started;
    RateMeter::Clock::time_point m_last_draw{};
    std::optional<TerminalSize> m_size; // read again after a resize
    std::size_t m_drawn = 0;            // lines of the block on the screen (the cursor below)
    bool m_finished = false;
};

} // namespace nettool::cli
