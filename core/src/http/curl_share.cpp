#include "curl_share.hpp"

#include "curl_handles.hpp"

#include <new>

namespace nettool::http {

CurlShare::CurlShare() {
    ensure_curl_initialized();
    m_share = curl_share_init();
    if (m_share == nullptr) throw std::bad_alloc();
    curl_share_setopt(m_share, CURLSHOPT_LOCKFUNC, &CurlShare::lock);
    curl_share_setopt(m_share, CURLSHOPT_UNLOCKFUNC, &CurlShare::unlock);
    curl_share_setopt(m_share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(m_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(m_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(m_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

CurlShare::~CurlShare() {
    curl_share_cleanup(m_share);
}

void CurlShare::lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<CurlShare*>(self)->m_locks.at(static_cast<std::size_t>(data)).lock();
}

void CurlShare::unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<CurlShare*>(self)->m_locks.at(static_cast<std::size_t>(data)).unlock();
}

std::shared_ptr<ConnectionShare> make_connection_share() {
    return std::make_shared<CurlShare>();
}

} // namespace nettool::http
