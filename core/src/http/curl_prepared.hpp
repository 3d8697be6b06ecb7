#pragma once
// One transfer set up on an easy handle: everything that must live as long as libcurl runs it
// (the callbacks' state, the header list, the error buffer). The blocking engine runs it with
// curl_easy_perform, the multi engine adds it to its multi handle; both conclude it the same
// way, so a transfer means the same thing whichever drives it.
#include "curl_handles.hpp"
#include "curl_transfer.hpp"

#include <nettool/http/transfer.hpp>
#include <optional>

namespace nettool::http {

class PreparedTransfer {
  public:
    // `request` and `sink` must outlive this object; `easy` is reset now and when it ends.
    PreparedTransfer(CURL* easy, const Request& request, TransferSink& sink);
    ~PreparedTransfer();
    PreparedTransfer(const PreparedTransfer&) = delete;
    PreparedTransfer& operator=(const PreparedTransfer&) = delete;

    // Sets every option of the request; a refused option or an unusable local file is the
    // transfer's failure. `small_reads` keeps libcurl's small receive buffer (a rate limit
    // kept outside the handle pauses between reads and needs them small).
    std::optional<TransferError> configure(CURLSH* share, bool small_reads);
    // libcurl's result for the transfer, in nettool's terms.
    TransferResult conclude(CURLcode code);

    CURL* easy() const { return m_easy; }
    void set_rate_gate(RateGate* gate) { m_transfer.set_rate_gate(gate); }
    std::uint64_t body_bytes() const { return m_transfer.body_bytes(); }

  private:
    CURL* m_easy;
    const Request& m_request;
    CurlTransfer m_transfer;
    Slist m_headers;
    char m_error_buffer[CURL_ERROR_SIZE] = {};
};

} // namespace nettool::http
