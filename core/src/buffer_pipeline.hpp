#pragma once
// A bounded hand-off of byte buffers from one producer (the transfer thread) to consumer
// threads (a download's writer and its hasher), so that receiving, writing and hashing overlap
// on different cores. A fixed set of equal buffers: the producer copies bytes into the open
// one and hands it on when full; it is filled again only when every consumer it went to is
// done with it. Buffers are page-aligned. Consumers read a buffer at the same time and in order,
// never copy it. The producer waits only when all buffers are still in use (a consumer slower than
// the producer by the whole pool) and when it asks to (wait(), drop()).
//
// A consumer's first error is kept: that consumer skips later buffers (still releasing them),
// and append()/flush()/wait() return it. The destructor stops and joins every thread, on every
// way out; buffers still queued then are not consumed.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nettool/error.hpp>
#include <new>
#include <optional>
#include <span>
#include <thread>
#include <vector>

namespace nettool {

class BufferPipeline {
  public:
    using Consumer = std::function<Status(std::span<const char>)>;
    // Bit i of a mask: consumer i gets the buffer.
    using Mask = unsigned;

    // buffer_count >= 2; at most 8 consumers, each on its own thread.
    BufferPipeline(std::size_t buffer_count, std::size_t buffer_size,
                   std::vector<Consumer> consumers);
    BufferPipeline(const BufferPipeline&) = delete;
    BufferPipeline& operator=(const BufferPipeline&) = delete;
    ~BufferPipeline();

    Mask all() const { return (Mask{1} << m_lanes.size()) - 1; }
    // Copies `data` for the consumers in `mask`, handing on every buffer that fills. Bytes for
    // another mask first hand on the open buffer.
    Status append(std::span<const char> data, Mask mask);
    // Hands on the open buffer even when it is not full.
    Status flush();
    // flush(), then waits until every consumer has finished everything handed to it.
    Status wait();
    // Forgets the open buffer's bytes and waits until the consumers are idle (errors stay).
    void drop();

  private:
    struct PageFree {
        void operator()(char* bytes) const { ::operator delete[](bytes, std::align_val_t{4096}); }
    };
    struct Buffer {
        std::unique_ptr<char[], PageFree> bytes; // page-aligned: O_DIRECT takes it as it is
        std::size_t used = 0;
        Mask mask = 0;
        int readers = 0;
    };
    struct Lane {
        Consumer consume;
        std::deque<Buffer*> queue;
        bool busy = false;
        std::optional<Error> error;
        std::thread thread;
    };

    void run(Lane& lane);
    void stop();
    Status first_error() const; // with m_mutex held
    bool idle() const;          // with m_mutex held
    Status hand_on();
    Buffer* take_free();

    const std::size_t m_buffer_size;
    std::vector<Buffer> m_buffers;
    std::vector<std::unique_ptr<Lane>> m_lanes;
    mutable std::mutex m_mutex;
    std::condition_variable m_work;     // consumers wait for buffers
    std::condition_variable m_released; // the producer waits for free buffers or idleness
    std::vector<Buffer*> m_free;
    Buffer* m_open = nullptr;
    std::atomic<bool> m_failed{false}; // a consumer failed: the producer looks without the lock
    bool m_stopping = false;
};

} // namespace nettool
