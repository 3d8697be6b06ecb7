#include "util/fd.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/get.hpp>
#include <nettool/http/retry_policy.hpp>
#include <nettool/stop.hpp>
#include <nettool/unique_fd.hpp>

namespace nettool {
namespace {

class GetSink final : public http::TransferSink {
  public:
    GetSink(const GetRequest& request, GetObserver& observer, int header_fd)
        : m_request(request), m_observer(observer), m_header_fd(header_fd) {}

    void on_intermediate(const http::ResponseHead& head) override {
        m_observer.on_redirect(head);
        m_heads.push_back(head.raw);
    }

    Status on_response(const http::ResponseHead& head) override {
        m_observer.on_response(head);
        m_heads.push_back(head.raw);
        std::string all;
        for (const auto& raw : m_heads)
            all += raw;
        m_heads.clear();
        if (m_header_fd == m_request.output_fd) {
            if (auto st = output(all); !st) return st;
        } else if (m_header_fd >= 0) {
            if (auto st = util::write_all(m_header_fd, all, m_header_name); !st) return st;
        }
        const bool error_status = head.status >= 400 && !m_request.request.options.ignore_status;
        // On an error status nothing goes to the output: a script sees an empty stdout.
        const bool show =
            (m_request.include_headers || m_request.request.head_only) && !error_status;
        if (show && !all.empty()) return output(all);
        return {};
    }

    Status on_body(std::span<const char> chunk) override {
        if (m_request.request.head_only) return {};
        return output({chunk.data(), chunk.size()});
    }

    bool wrote_output() const { return m_written; }
    bool output_closed() const { return m_output_closed; }

  private:
    Status output(std::string_view data) {
        m_written = true;
        // A closed reader (`| head -1`) stops the transfer; get() then reports success.
        auto written = util::write_all(m_request.output_fd, data, "standard output");
        if (!written && written.error().sys_errno == EPIPE) m_output_closed = true;
        return written;
    }

    const GetRequest& m_request;
    GetObserver& m_observer;
    int m_header_fd;
    std::string m_header_name = m_request.dump_header_path.value_or("");
    std::vector<std::string> m_heads;
    bool m_written = false;
    bool m_output_closed = false;
};

Result<UniqueFd> open_header_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (!fd)
        return fail(ErrorKind::file_io,
                    fmt::format("cannot write the header file '{}': {}", path, errno_text(errno)));
    return fd;
}

} // namespace

Status get(const GetRequest& request, http::TransferEngine& engine, GetObserver& observer) {
    http::RetryPolicy policy;
    policy.max_retries = request.retries;
    for (int attempt = 0;; ++attempt) {
        UniqueFd header_file;
        int header_fd = -1;
        if (request.dump_header_path) {
            if (*request.dump_header_path == "-") {
                header_fd = request.output_fd;
            } else {
                auto opened = open_header_file(*request.dump_header_path); // truncated per attempt
                if (!opened) return tl::unexpected(opened.error());
                header_file = std::move(*opened);
                header_fd = header_file.get();
            }
        }
        GetSink sink(request, observer, header_fd);
        auto outcome = engine.perform(request.request, sink);
        if (outcome) {
            observer.on_done(*outcome);
            return {};
        }
        if (sink.output_closed()) {
            observer.on_output_closed();
            return {};
        }
        const http::TransferError& failure = outcome.error();
        // Bytes already on stdout cannot be taken back: no retry after the first one.
        if (sink.wrote_output() || stop_requested()) return tl::unexpected(failure.error);
        const auto delay = http::retry_delay(
            policy, attempt + 1, failure, std::chrono::system_clock::now(), http::random_jitter());
        if (!delay) return tl::unexpected(failure.error);
        observer.on_retry(attempt + 1, policy.max_retries, *delay, failure.error);
        if (!util::sleep_unless_stopped(*delay)) return fail(ErrorKind::interrupted, "interrupted");
    }
}

} // namespace nettool
