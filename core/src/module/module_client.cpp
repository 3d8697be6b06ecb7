// In the binary: the public factories of nettool/http/*.hpp and nettool/digest.hpp, served by
// the HTTP module, which the first of them loads. (The unit tests and the fuzz targets link the
// library code of core/src/http/ itself instead of this file.)
#include "module_loader.hpp"

#include <exception>
#include <fmt/format.h>
#include <map>
#include <nettool/digest.hpp>
#include <nettool/http/library_info.hpp>
#include <nettool/http/transfer.hpp>
#include <nettool/http/url.hpp>
#include <new>
#include <stdexcept>

namespace nettool {
namespace {

const module::HttpModule* calls_or_null() {
    const auto& loaded = module::http_module();
    return loaded ? loaded->calls : nullptr;
}

} // namespace

namespace http {
namespace {

// The caller's sink as plain calls for the module. What the sink throws is caught here, ends
// the transfer (as a sink error would), and is thrown again once the module has returned.
class GuardedSink {
  public:
    explicit GuardedSink(TransferSink& sink) : m_sink(sink) {}

    module::SinkCalls calls() {
        module::SinkCalls calls;
        calls.context = this;
        calls.on_response = [](void* self, const ResponseHead& head) noexcept -> Status {
            return guarded(self, [&](TransferSink& sink) { return sink.on_response(head); });
        };
        calls.on_body = [](void* self, const char* data, std::size_t size) noexcept -> Status {
            return guarded(self, [&](TransferSink& sink) { return sink.on_body({data, size}); });
        };
        calls.on_intermediate = [](void* self, const ResponseHead& head) noexcept {
            guarded(self, [&](TransferSink& sink) {
                sink.on_intermediate(head);
                return Status{};
            });
        };
        calls.on_progress = [](void* self, std::uint64_t done,
                               std::optional<std::uint64_t> total) noexcept {
            guarded(self, [&](TransferSink& sink) {
                sink.on_progress(done, total);
                return Status{};
            });
        };
        return calls;
    }

    // The request with its trace callback (TransferOptions::trace, a std::function the module
    // calls) guarded the same way; a trace cannot end a transfer, so its exception waits.
    Request with_guarded_trace(const Request& request) {
        Request guarded = request;
        guarded.options.trace = [this, trace = request.options.trace](TraceKind kind,
                                                                      std::string_view bytes) {
            if (m_caught) return;
            try {
                trace(kind, bytes);
            } catch (...) {
                m_caught = std::current_exception();
            }
        };
        return guarded;
    }

    void rethrow_if_caught() {
        if (m_caught) std::rethrow_exception(m_caught);
    }

  private:
    template <class Call> static Status guarded(void* self, Call&& call) noexcept {
        auto* guard = static_cast<GuardedSink*>(self);
        if (guard->m_caught) return aborted();
        try {
            return call(guard->m_sink);
        } catch (...) {
            guard->m_caught = std::current_exception();
            return aborted();
        }
    }
    static Status aborted() noexcept {
        return tl::unexpected(Error{ErrorKind::generic, "the transfer's sink failed"});
    }

    TransferSink& m_sink;
    std::exception_ptr m_caught;
};

class ModuleShare final : public ConnectionShare {
  public:
    ModuleShare(const module::HttpModule& calls, module::Share* share)
        : m_calls(calls), m_share(share) {}
    ~ModuleShare() override { m_calls.share_free(m_share); }
    ModuleShare(const ModuleShare&) = delete;
    ModuleShare& operator=(const ModuleShare&) = delete;
    module::Share* handle() const { return m_share; }

  private:
    const module::HttpModule& m_calls;
    module::Share* m_share;
};

class ModuleEngine final : public TransferEngine {
  public:
    ModuleEngine(const module::HttpModule& calls, module::Engine* engine,
                 std::shared_ptr<ConnectionShare> share)
        : m_calls(calls), m_engine(engine), m_share(std::move(share)) {}
    ~ModuleEngine() override { m_calls.engine_free(m_engine); }
    ModuleEngine(const ModuleEngine&) = delete;
    ModuleEngine& operator=(const ModuleEngine&) = delete;

    TransferResult perform(const Request& request, TransferSink& sink) override {
        GuardedSink guard(sink);
        const module::SinkCalls calls = guard.calls();
        TransferResult result =
            request.options.trace
                ? m_calls.perform(m_engine, guard.with_guarded_trace(request), calls)
                : m_calls.perform(m_engine, request, calls);
        guard.rethrow_if_caught();
        return result;
    }

    TunnelResult open_tunnel(const TunnelRequest& request) override {
        return m_calls.open_tunnel(m_engine, request);
    }

  private:
    const module::HttpModule& m_calls;
    module::Engine* m_engine;
    std::shared_ptr<ConnectionShare> m_share; // the module's engine holds its own reference
};

// The module's multi engine. Each running transfer keeps here what the module points into:
// the request (with its trace guarded) and the guarded sink.
class ModuleMulti final : public MultiTransferEngine {
  public:
    ModuleMulti(const module::HttpModule& calls, module::Multi* multi)
        : m_calls(calls), m_multi(multi) {}
    ~ModuleMulti() override { m_calls.multi_free(m_multi); }
    ModuleMulti(const ModuleMulti&) = delete;
    ModuleMulti& operator=(const ModuleMulti&) = delete;

    void start(std::uint64_t id, const Request& request, TransferSink& sink) override {
        auto running = std::make_unique<Running>(sink);
        running->request =
            request.options.trace ? running->guard.with_guarded_trace(request) : request;
        const module::SinkCalls calls = running->guard.calls();
        Running& kept = *running;
        m_running[id] = std::move(running);
        m_calls.multi_start(m_multi, id, kept.request, calls);
    }

    std::vector<MultiDone> run(std::chrono::milliseconds wait) override {
        std::vector<MultiDone> done = m_calls.multi_run(m_multi, wait.count());
        std::exception_ptr caught;
        for (const auto& ended : done) {
            auto found = m_running.find(ended.id);
            if (found == m_running.end()) continue;
            try {
                found->second->guard.rethrow_if_caught();
            } catch (...) {
                caught = std::current_exception();
            }
            m_running.erase(found);
        }
        if (caught) std::rethrow_exception(caught);
        return done;
    }

    void wake() override { m_calls.multi_wake(m_multi); }

  private:
    struct Running {
        explicit Running(TransferSink& sink) : guard(sink) {}
        GuardedSink guard;
        Request request;
    };
    const module::HttpModule& m_calls;
    module::Multi* m_multi;
    std::map<std::uint64_t, std::unique_ptr<Running>> m_running;
};

// Without the module every transfer fails with the sentence that says why.
class UnavailableEngine final : public TransferEngine {
  public:
    explicit UnavailableEngine(Error error) : m_error(std::move(error)) {}
    TransferResult perform(const Request&, TransferSink&) override {
        TransferError failure;
        failure.error = m_error;
        return tl::unexpected(failure);
    }
    TunnelResult open_tunnel(const TunnelRequest&) override {
        return tl::unexpected(TunnelFailure{m_error, false});
    }

  private:
    Error m_error;
};

class UnavailableMulti final : public MultiTransferEngine {
  public:
    explicit UnavailableMulti(Error error) : m_error(std::move(error)) {}
    void start(std::uint64_t id, const Request&, TransferSink&) override {
        TransferError failure;
        failure.error = m_error;
        m_done.push_back({id, tl::unexpected(std::move(failure))});
    }
    std::vector<MultiDone> run(std::chrono::milliseconds) override {
        return std::exchange(m_done, {});
    }
    void wake() override {}

  private:
    Error m_error;
    std::vector<MultiDone> m_done;
};

// Without the module a share holds nothing; the engines made with it are unavailable anyway.
class UnavailableShare final : public ConnectionShare {};

} // namespace

Result<Url> parse_url(std::string_view text) {
    const auto& loaded = module::http_module();
    if (!loaded) return tl::unexpected(loaded.error());
    return loaded->calls->parse_url(text);
}

Status check_proxy_url(std::string_view text) {
    const auto& loaded = module::http_module();
    if (!loaded) return tl::unexpected(loaded.error());
    return loaded->calls->check_proxy_url(text);
}

std::string path_of_url(std::string_view url) {
    const auto* calls = calls_or_null();
    return calls != nullptr ? calls->path_of_url(url) : std::string("/");
}

Result<std::string> loaded_library_versions() {
    const auto& loaded = module::http_module();
    if (!loaded) return tl::unexpected(loaded.error());
    auto versions = loaded->calls->library_versions();
    if (!versions) return versions;
    return fmt::format("HTTP module {}\n{}", loaded->path, *versions);
}

std::shared_ptr<ConnectionShare> make_connection_share() {
    const auto* calls = calls_or_null();
    if (calls == nullptr) return std::make_shared<UnavailableShare>();
    module::Share* share = calls->share_new();
    if (share == nullptr) throw std::bad_alloc();
    return std::make_shared<ModuleShare>(*calls, share);
}

std::unique_ptr<TransferEngine> make_transfer_engine(std::shared_ptr<ConnectionShare> share) {
    const auto& loaded = module::http_module();
    if (!loaded) return std::make_unique<UnavailableEngine>(loaded.error());
    module::Share* share_handle = nullptr;
    if (share) {
        // Only shares made by make_connection_share() exist; anything else is a programming error.
        const auto* ours = dynamic_cast<const ModuleShare*>(share.get());
        if (ours == nullptr) throw std::logic_error("foreign ConnectionShare");
        share_handle = ours->handle();
    }
    module::Engine* engine = loaded->calls->engine_new(share_handle);
    // Out of memory at start-up: an always-on check rather than a null engine.
    if (engine == nullptr) throw std::bad_alloc();
    return std::make_unique<ModuleEngine>(*loaded->calls, engine, std::move(share));
}

std::unique_ptr<TransferEngine> make_transfer_engine() {
    return make_transfer_engine(nullptr);
}

std::unique_ptr<MultiTransferEngine> make_multi_engine(const MultiOptions& options) {
    const auto& loaded = module::http_module();
    if (!loaded) return std::make_unique<UnavailableMulti>(loaded.error());
    module::Multi* multi = loaded->calls->multi_new(options);
    if (multi == nullptr) throw std::bad_alloc();
    return std::make_unique<ModuleMulti>(*loaded->calls, multi);
}

} // namespace http

struct Digest::State {
    const module::HttpModule& calls;
    module::DigestState* digest;
    State(const module::HttpModule& c, module::DigestState* d) : calls(c), digest(d) {}
    ~State() { calls.digest_free(digest); }
    State(const State&) = delete;
    State& operator=(const State&) = delete;
};

Digest::Digest(std::unique_ptr<State> state, std::string algorithm)
    : m_state(std::move(state)), m_algorithm(std::move(algorithm)) {}
Digest::Digest(Digest&&) noexcept = default;
Digest& Digest::operator=(Digest&&) noexcept = default;
Digest::~Digest() = default;

Result<Digest> Digest::create(std::string_view algorithm) {
    const auto& loaded = module::http_module();
    if (!loaded) return tl::unexpected(loaded.error());
    auto digest = loaded->calls->digest_new(algorithm);
    if (!digest) return tl::unexpected(digest.error());
    return Digest(std::make_unique<State>(*loaded->calls, *digest), std::string(algorithm));
}

void Digest::update(std::span<const char> data) {
    m_state->calls.digest_update(m_state->digest, data.data(), data.size());
}

void Digest::reset() {
    m_state->calls.digest_reset(m_state->digest);
}

std::string Digest::hex() const {
    return m_state->calls.digest_hex(m_state->digest);
}

} // namespace nettool
