#pragma once
// A libcurl share handle (connection cache, DNS cache, TLS sessions) with the locking libcurl
// needs when engines in several threads use it.
#include <array>
#include <curl/curl.h>
#include <mutex>
#include <nettool/http/transfer.hpp>

namespace nettool::http {

class CurlShare final : public ConnectionShare {
  public:
    CurlShare();
    ~CurlShare() override;
    CurlShare(const CurlShare&) = delete;
    CurlShare& operator=(const CurlShare&) = delete;

    CURLSH* get() const { return m_share; }

  private:
    static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self);
    static void unlock(CURL*, curl_lock_data data, void* self);

    CURLSH* m_share = nullptr;
    std::array<std::mutex, CURL_LOCK_DATA_LAST> m_locks;
};

} // namespace nettool::http
