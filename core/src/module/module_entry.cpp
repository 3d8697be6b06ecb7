// The HTTP module's entry (nettool-http.so): the table of functions the binary calls, each a
// noexcept wrapper of the library code in core/src/http/ that catches whatever that code
// throws, so that no exception leaves the module (http_module.hpp says why).
#include "http_module.hpp"
#include "module_entry_tls.hpp"
#include "module_host.hpp"

#include <exception>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <nettool/digest.hpp>
#include <nettool/http/library_info.hpp>
#include <nettool/http/transfer.hpp>
#include <nettool/http/url.hpp>
#include <new>

// NETTOOL_MODULE_KEY: set by CMakeLists.txt, the same for the binary's loader. Exported (with
// nettool_http_module_open) by http_module.map.
extern "C" const char nettool_http_module_key[] = NETTOOL_MODULE_KEY;

namespace nettool::module {

struct Share {
    std::shared_ptr<http::ConnectionShare> share;
};
struct Engine {
    std::unique_ptr<http::TransferEngine> engine;
};
struct Multi {
    std::unique_ptr<http::MultiTransferEngine> engine;
    // The binary's sinks, one adapter per running transfer (the engine holds references).
    std::map<std::uint64_t, std::unique_ptr<http::TransferSink>> sinks;
    std::vector<http::MultiDone> refused; // transfers that could not even be started
};
struct DigestState {
    Digest digest;
};

namespace {

// The sentence for an exception caught at the boundary.
Error error_of(std::exception_ptr caught) noexcept {
    try {
        std::rethrow_exception(std::move(caught));
    } catch (const std::bad_alloc&) {
        return Error{ErrorKind::generic, "out of memory"};
    } catch (const std::exception& e) {
        try {
            return Error{
                ErrorKind::generic,
                fmt::format("internal error in the HTTP module: {}; please report this", e.what())};
        } catch (...) {
        }
    } catch (...) {
    }
    return Error{ErrorKind::generic, "internal error in the HTTP module; please report this"};
}

// The binary's sink behind the TransferSink interface the engine calls.
class SinkAdapter final : public http::TransferSink {
  public:
    explicit SinkAdapter(SinkCalls calls) : m_calls(calls) {}
    Status on_response(const http::ResponseHead& head) override {
        return m_calls.on_response(m_calls.context, head);
    }
    Status on_body(std::span<const char> chunk) override {
        return m_calls.on_body(m_calls.context, chunk.data(), chunk.size());
    }
    void on_intermediate(const http::ResponseHead& head) override {
        m_calls.on_intermediate(m_calls.context, head);
    }
    void on_progress(std::uint64_t done, std::optional<std::uint64_t> total) override {
        m_calls.on_progress(m_calls.context, done, total);
    }

  private:
    SinkCalls m_calls;
};

Result<http::Url> parse_url(std::string_view text) noexcept {
    try {
        return http::parse_url(text);
    } catch (...) {
        return tl::unexpected(error_of(std::current_exception()));
    }
}

Status check_proxy_url(std::string_view text) noexcept {
    try {
        return http::check_proxy_url(text);
    } catch (...) {
        return tl::unexpected(error_of(std::current_exception()));
    }
}

std::string path_of_url(std::string_view url) noexcept {
    try {
        return http::path_of_url(url);
    } catch (...) {
        return "/";
    }
}

Result<std::string> library_versions() noexcept {
    try {
        return http::loaded_library_versions();
    } catch (...) {
        return tl::unexpected(error_of(std::current_exception()));
    }
}

Share* share_new() noexcept {
    try {
        return new Share{http::make_connection_share()};
    } catch (...) {
        return nullptr;
    }
}

void share_free(Share* share) noexcept {
    delete share;
}

Engine* engine_new(Share* share) noexcept {
    try {
        return new Engine{http::make_transfer_engine(share != nullptr ? share->share : nullptr)};
    } catch (...) {
        return nullptr;
    }
}

void engine_free(Engine* engine) noexcept {
    delete engine;
}

http::TransferResult perform(Engine* engine, const http::Request& request,
                             const SinkCalls& calls) noexcept {
    try {
        SinkAdapter sink(calls);
        return engine->engine->perform(request, sink);
    } catch (...) {
        http::TransferError failure;
        failure.error = error_of(std::current_exception());
        return tl::unexpected(std::move(failure));
    }
}

Multi* multi_new(const http::MultiOptions& options) noexcept {
    try {
        return new Multi{http::make_multi_engine(options), {}, {}};
    } catch (...) {
        return nullptr;
    }
}

void multi_free(Multi* multi) noexcept {
    // The engine first: removing a running transfer reports its progress to its sink one last
    // time (libcurl's done handling), so the sinks must outlive it.
    multi->engine.reset();
    delete multi;
}

void multi_start(Multi* multi, std::uint64_t id, const http::Request& request,
                 const SinkCalls& calls) noexcept {
    try {
        auto& sink = multi->sinks[id];
        sink = std::make_unique<SinkAdapter>(calls);
        multi->engine->start(id, request, *sink);
    } catch (...) {
        http::TransferError failure;
        failure.error = error_of(std::current_exception());
        try {
            multi->refused.push_back({id, tl::unexpected(std::move(failure))});
        } catch (...) {
            // Out of memory twice over: the transfer is lost, as the process soon will be.
        }
    }
}

std::vector<http::MultiDone> multi_run(Multi* multi, std::int64_t wait_ms) noexcept {
    try {
        std::vector<http::MultiDone> done = std::exchange(multi->refused, {});
        if (done.empty()) done = multi->engine->run(std::chrono::milliseconds(wait_ms));
        for (const auto& ended : done)
            multi->sinks.erase(ended.id);
        return done;
    } catch (...) {
        return {};
    }
}

void multi_wake(Multi* multi) noexcept {
    multi->engine->wake();
}

http::TunnelResult open_tunnel(Engine* engine, const http::TunnelRequest& request) noexcept {
    try {
        return engine->engine->open_tunnel(request);
    } catch (...) {
        return tl::unexpected(http::TunnelFailure{error_of(std::current_exception()), false});
    }
}

Result<DigestState*> digest_new(std::string_view algorithm) noexcept {
    try {
        auto digest = Digest::create(algorithm);
        if (!digest) return tl::unexpected(std::move(digest.error()));
        return new DigestState{std::move(*digest)};
    } catch (...) {
        return tl::unexpected(error_of(std::current_exception()));
    }
}

void digest_free(DigestState* digest) noexcept {
    delete digest;
}

void digest_update(DigestState* digest, const char* data, std::size_t size) noexcept {
    digest->digest.update({data, size});
}

void digest_reset(DigestState* digest) noexcept {
    digest->digest.reset();
}

std::string digest_hex(const DigestState* digest) noexcept {
    try {
        return digest->digest.hex();
    } catch (...) {
        return {};
    }
}

constexpr HttpModule k_module = {
    parse_url,
    check_proxy_url,
    path_of_url,
    library_versions,
    share_new,
    share_free,
    engine_new,
    engine_free,
    perform,
    multi_new,
    multi_free,
    multi_start,
    multi_run,
    multi_wake,
    open_tunnel,
    digest_new,
    digest_free,
    digest_update,
    digest_reset,
    digest_hex,
    // TLS (module_entry_tls.cpp)
    tls_client_new,
    tls_server_new,
    tls_context_free,
    tls_fingerprint,
    tls_session_new,
    tls_session_free,
    tls_handshake,
    tls_read,
    tls_write,
    tls_shutdown,
    tls_peer,
};

} // namespace
} // namespace nettool::module

extern "C" const nettool::module::HttpModule*
nettool_http_module_open(const nettool::module::HostCalls* host) noexcept {
    nettool::module::set_host(host);
    return &nettool::module::k_module;
}
