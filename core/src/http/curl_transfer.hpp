#pragma once
// The state of one perform(): libcurl's callbacks land here. They turn curl's stream of header
// lines and body chunks into nettool's events: intermediate heads (redirects, auth challenges),
// one final head, then body chunks — with the body of a status >= 400 withheld.
#include <curl/curl.h>
#include <nettool/http/transfer.hpp>
#include <nettool/unique_fd.hpp>
#include <optional>
#include <string>

namespace nettool::http {

// A budget shared by transfers (the multi engine's total rate). A body chunk that finds it
// spent pauses its transfer (CURL_WRITEFUNC_PAUSE: libcurl keeps the chunk and delivers it
// again once the transfer is unpaused), so no transfer reads far past the budget.
class RateGate {
  public:
    virtual ~RateGate() = default;
    // True: the chunk may go to the sink (and is charged); false: pause the transfer.
    virtual bool admit(std::size_t bytes) = 0;
};

class CurlTransfer {
  public:
    CurlTransfer(CURL* easy, const Request& request, TransferSink& sink, bool http);

    // Installs the header/write/progress callbacks on the handle.
    void install_callbacks();

    void set_rate_gate(RateGate* gate) { m_gate = gate; }

    // For a POST body streamed from a file (--data-binary @FILE).
    void set_upload(UniqueFd fd) { m_upload = std::move(fd); }
    int upload_fd() const { return m_upload.get(); }

    // After curl_easy_perform(): delivers a head that had no body (HEAD, empty body) and
    // returns the stored failure, if any, that takes precedence over curl's code.
    std::optional<TransferError> finish_ok();
    // The failure stored by a callback (sink error, withheld status), if any.
    const std::optional<TransferError>& stored_failure() const { return m_failure; }

    bool final_delivered() const { return m_final_delivered; }
    const ResponseHead& final_head() const { return m_final; }
    std::uint64_t body_bytes() const { return m_body_bytes; }
    // The Location of the last redirect response seen (for a refused redirect's message).
    const std::optional<std::string>& last_location() const { return m_last_location; }
    // The URL that answered with that redirect.
    const std::string& last_redirect_from() const { return m_last_redirect_from; }
    // The status of the last complete head seen (0 when none).
    int last_status() const { return m_current.status; }
    // libcurl was following a redirect when it stopped: the last head was a complete 3xx with
    // a Location and no final response came (a failure now is about where it pointed).
    bool following_redirect() const;

    // Credentials were offered: a 401 is then an auth failure (6), not a server error (8).
    bool credentials_offered = false;
    bool proxy_credentials_offered = false;

  private:
    static size_t header_callback(char* data, size_t size, size_t count, void* self);
    static size_t write_callback(char* data, size_t size, size_t count, void* self);
    static int progress_callback(void* self, curl_off_t dltotal, curl_off_t dlnow,
                                 curl_off_t ultotal, curl_off_t ulnow);
    static size_t read_callback(char* buffer, size_t size, size_t count, void* self);
    static int seek_callback(void* self, curl_off_t offset, int origin);

    void on_header_line(std::string_view line);
    // Makes the current head the final one and tells the sink; false when the body must not
    // flow (sink error or withheld status).
    bool deliver_final();
    std::string effective_url() const;

    CURL* m_easy;
    const Request& m_request;
    TransferSink& m_sink;
    bool m_http;
    ResponseHead m_current;
    bool m_in_head = false;
    bool m_current_complete = false;
    bool m_final_delivered = false;
    bool m_withheld = false;
    ResponseHead m_final;
    std::optional<TransferError> m_failure;
    std::optional<std::string> m_last_location;
    std::string m_last_redirect_from;
    std::uint64_t m_body_bytes = 0;
    UniqueFd m_upload;
    RateGate* m_gate = nullptr;
};

} // namespace nettool::http
