#include "buffer_pipeline.hpp"

#include "util/check.hpp"

#include <algorithm>
#include <cstring>

namespace nettool {

BufferPipeline::BufferPipeline(std::size_t buffer_count, std::size_t buffer_size,
                               std::vector<Consumer> consumers)
    : m_buffer_size(buffer_size), m_buffers(buffer_count) {
    NETTOOL_CHECK(buffer_count >= 2 && buffer_size > 0);
    NETTOOL_CHECK(!consumers.empty() && consumers.size() <= 8);
    for (auto& buffer : m_buffers) {
        buffer.bytes.reset(
            static_cast<char*>(::operator new[](buffer_size, std::align_val_t{4096})));
        m_free.push_back(&buffer);
    }
    for (auto& consume : consumers) {
        m_lanes.push_back(std::make_unique<Lane>());
        m_lanes.back()->consume = std::move(consume);
    }
    try {
        for (auto& lane : m_lanes)
            lane->thread = std::thread([this, &lane = *lane] { run(lane); });
    } catch (...) {
        stop(); // no thread may outlive a constructor that failed
        throw;
    }
}

BufferPipeline::~BufferPipeline() {
    stop();
}

void BufferPipeline::stop() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_work.notify_all();
    for (auto& lane : m_lanes) {
        if (lane->thread.joinable()) lane->thread.join();
    }
}

void BufferPipeline::run(Lane& lane) {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_work.wait(lock, [&] { return m_stopping || !lane.queue.empty(); });
        if (m_stopping) return;
        Buffer* buffer = lane.queue.front();
        lane.queue.pop_front();
        lane.busy = true;
        const bool skip = lane.error.has_value();
        lock.unlock();
        Status done = skip ? Status{} : lane.consume({buffer->bytes.get(), buffer->used});
        lock.lock();
        lane.busy = false;
        if (!done && !lane.error) {
            lane.error = done.error();
            m_failed = true;
        }
        if (--buffer->readers == 0) m_free.push_back(buffer);
        m_released.notify_all();
    }
}

Status BufferPipeline::first_error() const {
    for (const auto& lane : m_lanes) {
        if (lane->error) return tl::unexpected(*lane->error);
    }
    return {};
}

bool BufferPipeline::idle() const {
    return std::all_of(m_lanes.begin(), m_lanes.end(),
                       [](const auto& lane) { return lane->queue.empty() && !lane->busy; });
}

BufferPipeline::Buffer* BufferPipeline::take_free() {
    std::unique_lock lock(m_mutex);
    m_released.wait(lock, [&] { return !m_free.empty(); });
    Buffer* buffer = m_free.back();
    m_free.pop_back();
    buffer->used = 0;
    buffer->mask = 0;
    return buffer;
}

Status BufferPipeline::hand_on() {
    Buffer* buffer = std::exchange(m_open, nullptr);
    if (buffer == nullptr) return {};
    std::lock_guard lock(m_mutex);
    if (buffer->used == 0 || buffer->mask == 0) {
        m_free.push_back(buffer);
    } else {
        for (std::size_t i = 0; i < m_lanes.size(); ++i) {
            if ((buffer->mask & (Mask{1} << i)) == 0) continue;
            ++buffer->readers;
            m_lanes[i]->queue.push_back(buffer);
        }
        m_work.notify_all();
    }
    return m_failed ? first_error() : Status{};
}

Status BufferPipeline::append(std::span<const char> data, Mask mask) {
    mask &= all();
    if (m_open != nullptr && m_open->mask != mask && m_open->used > 0) {
        if (auto handed = hand_on(); !handed) return handed;
    }
    while (!data.empty()) {
        if (m_open == nullptr) m_open = take_free();
        m_open->mask = mask;
        const std::size_t n = std::min(data.size(), m_buffer_size - m_open->used);
        std::memcpy(m_open->bytes.get() + m_open->used, data.data(), n);
        m_open->used += n;
        data = data.subspan(n);
        if (m_open->used == m_buffer_size) {
            if (auto handed = hand_on(); !handed) return handed;
        }
    }
    if (!m_failed.load(std::memory_order_relaxed)) return {};
    std::lock_guard lock(m_mutex);
    return first_error();
}

Status BufferPipeline::flush() {
    return hand_on();
}

Status BufferPipeline::wait() {
    (void)hand_on();
    std::unique_lock lock(m_mutex);
    m_released.wait(lock, [&] { return idle(); });
    return first_error();
}

void BufferPipeline::drop() {
    if (m_open != nullptr) {
        m_open->used = 0;
        (void)hand_on(); // an empty buffer goes straight back
    }
    std::unique_lock lock(m_mutex);
    m_released.wait(lock, [&] { return idle(); });
}

} // namespace nettool
