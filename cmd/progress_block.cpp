#include "progress_block.hpp"

#include "messages.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <unistd.h>

namespace nettool::cli {
BlockTerminal stderr_terminal() {
    auto watch = std::make_shared<ResizeWatch>();
    return {[](std::string_view text) {
                std::fwrite(text.data(), 1, text.size(), stderr);
                std::fflush(stderr);
            },
            [] { return terminal_size(STDERR_FILENO).value_or(TerminalSize{}); },
            [watch] { return watch->resized(); }};
}

// What one download reports, passed to the block with its index.
class ProgressBlock::Slot final : public RetrieveObserver {
  public:
    Slot(ProgressBlock& block, std::size_t index) : m_block(block), m_index(index) {}

    void on_start(const std::string& path, std::optional<std::uint64_t> total,
                  std::uint64_t offset) override {
        m_block.start(m_index, path, total, offset);
    }
    void on_progress(std::uint64_t done, std::optional<std::uint64_t> total) override {
        m_block.progress(m_index, done, total);
    }
    void on_note(const std::string& message) override {
        if (m_block.m_output.quiet) return;
        m_block.message([&] { print_note(message); });
    }
    void on_warning(const std::string& message) override {
        m_block.message([&] { print_warning(message); });
    }
    void on_retry(int retry, int max, std::chrono::milliseconds delay, const Error& why) override {
        if (m_block.m_output.quiet) return;
        m_block.message([&] {
            print_warning(fmt::format("{}; retrying in {:.1f} s (retry {} of {})", why.message,
                                      static_cast<double>(delay.count()) / 1000.0, retry, max));
        });
    }
    void on_end(bool /*success*/) override { m_block.stop(m_index); }

  private:
    ProgressBlock& m_block;
    std::size_t m_index;
};

ProgressBlock::ProgressBlock(std::size_t files, const OutputOptions& output, BlockTerminal terminal)
    : m_output(output), m_terminal(std::move(terminal)), m_slots(files), m_files(files),
      m_started(RateMeter::Clock::now()) {}

ProgressBlock::~ProgressBlock() {
    std::lock_guard lock(m_mutex);
    erase();
}

RetrieveObserver& ProgressBlock::observer_for(std::size_t index) {
    std::lock_guard lock(m_mutex);
    auto& slot = m_slots.at(index);
    if (!slot) slot = std::make_unique<Slot>(*this, index);
    return *slot;
}

void ProgressBlock::start(std::size_t index, const std::string& path,
                          std::optional<std::uint64_t> total, std::uint64_t offset) {
    std::lock_guard lock(m_mutex);
    Transfer& transfer = m_transfers[index];
    transfer.name = shown_name(path);
    transfer.total = total;
    transfer.done = offset;
    transfer.meter = {};
    transfer.meter.add(RateMeter::Clock::now(), offset);
    draw();
}

void ProgressBlock::progress(std::size_t index, std::uint64_t done,
                             std::optional<std::uint64_t> total) {
    std::lock_guard lock(m_mutex);
    const auto found = m_transfers.find(index);
    if (found == m_transfers.end()) return;
    Transfer& transfer = found->second;
    const auto now = RateMeter::Clock::now();
    // Bytes received in this run: only what was added (a restart goes back to 0).
    if (done > transfer.done) m_bytes += done - transfer.done;
    transfer.done = done;
    if (total) transfer.total = total;
    transfer.meter.add(now, done);
    m_meter.add(now, m_bytes);
    draw();
}

void ProgressBlock::stop(std::size_t index) {
    std::lock_guard lock(m_mutex);
    m_transfers.erase(index);
}

void ProgressBlock::ended(std::size_t index, Ended how) {
    std::lock_guard lock(m_mutex);
    m_transfers.erase(index);
    ++m_ended;
    if (how == Ended::failed) ++m_failed;
    if (how == Ended::interrupted) ++m_interrupted;
    draw();
}

void ProgressBlock::message(const std::function<void()>& print) {
    print_above(true, print);
}

void ProgressBlock::print_above(bool on_terminal, const std::function<void()>& print) {
    std::lock_guard lock(m_mutex);
    if (on_terminal) erase();
    print();
    // Redrawn now only when a frame is due anyway: a thousand small files a second print a
    // thousand lines, and the block comes back with the next frame.
    draw();
}

void ProgressBlock::finish() {
    std::lock_guard lock(m_mutex);
    if (m_finished) return;
    m_finished = true;
    erase();
    m_transfers.clear();
    if (m_files == 0) return; // every line of the list was refused: nothing ran, nothing drawn
    TotalView total = total_view(RateMeter::Clock::now());
    const double seconds =
        std::chrono::duration<double>(RateMeter::Clock::now() - m_started).count();
    total.speed = seconds > 0 ? static_cast<double>(m_bytes) / seconds : 0.0;
    if (!m_size || m_terminal.resized()) m_size = m_terminal.size();
    m_terminal.write(total_line(total, m_size->columns) + "\n");
}

TotalView ProgressBlock::total_view(RateMeter::Clock::time_point now) const {
    TotalView total;
    total.ended = m_ended;
    total.files = m_files;
    total.failed = m_failed;
    total.interrupted = m_interrupted;
    total.bytes = m_bytes;
    total.speed = m_meter.rate(now);
    return total;
}

void ProgressBlock::draw() {
    if (m_finished || m_files == 0) return;
    const auto now = RateMeter::Clock::now();
    const bool resized = m_terminal.resized();
    if (!resized && m_last_draw != RateMeter::Clock::time_point{} &&
        now - m_last_draw < k_redraw_interval)
        return;
    if (!m_size || resized) m_size = m_terminal.size();
    m_last_draw = now;
    std::vector<TransferView> active;
    for (const auto& [index, transfer] : m_transfers)
        active.push_back({transfer.name, transfer.done, transfer.total, transfer.meter.rate(now)});
    const auto lines = compose_block(active, total_view(now), m_size->columns, m_size->rows);
    m_terminal.write(block_frame(lines, m_drawn));
    m_drawn = lines.size();
}

void ProgressBlock::erase() {
    if (m_drawn == 0) return;
    m_terminal.write(block_erase(m_drawn));
    m_drawn = 0;
}

} // namespace nettool::cli
