#pragma once
// A process-wide stop request. cmd/ installs the signal handlers and calls request_stop()
// from them (async-signal-safe: an atomic store and a write() to an eventfd). core/'s loops
// add stop_fd() to their poll/epoll set, so a signal wakes them, and check stop_requested().
namespace nettool {

// Creates the eventfd. Call once, before any handler can run; safe to call again.
void init_stop();

// Async-signal-safe. Records the first signal number and makes stop_fd() readable.
void request_stop(int signal_number) noexcept;

bool stop_requested() noexcept;

// The signal number passed to the first request_stop(), or 0.
int stop_signal() noexcept;

// Readable (level-triggered, forever) once a stop was requested; -1 before init_stop().
int stop_fd() noexcept;

// In a forked child (serve --model fork), with signals blocked: forgets the parent's request
// and gives the child an eventfd of its own (the inherited one is the parent's: a signal to
// the child must not stop the server). The inherited descriptor must be closed already.
void restart_stop_after_fork();

// Clears the request; for unit tests only.
void reset_stop_for_tests();

} // namespace nettool
