#pragma once
// Move-only owners of libcurl's handles (OS and library resources are RAII types, see ARCHITECTURE.md).
// Private to core/src/http/: nothing outside this directory sees <curl/curl.h>.
#include <curl/curl.h>
#include <memory>

namespace nettool::http {

// curl_global_init() exactly once, before the first handle (it is not thread-safe itself).
void ensure_curl_initialized();

struct EasyDeleter {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct UrlDeleter {
    void operator()(CURLU* handle) const { curl_url_cleanup(handle); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

struct CurlFree {
    void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlFree>;

// A curl_slist that frees itself; append() reports allocation failure.
class Slist {
  public:
    Slist() = default;
    Slist(const Slist&) = delete;
    Slist& operator=(const Slist&) = delete;
    Slist(Slist&& other) noexcept : m_list(other.m_list) { other.m_list = nullptr; }
    Slist& operator=(Slist&& other) noexcept {
        if (this != &other) {
            curl_slist_free_all(m_list);
            m_list = other.m_list;
            other.m_list = nullptr;
        }
        return *this;
    }
    ~Slist() { curl_slist_free_all(m_list); }

    bool append(const char* text) {
        curl_slist* grown = curl_slist_append(m_list, text);
        if (grown == nullptr) return false;
        m_list = grown;
        return true;
    }
    curl_slist* get() const { return m_list; }

  private:
    curl_slist* m_list = nullptr;
};

} // namespace nettool::http
