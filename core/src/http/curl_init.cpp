// curl_global_init() on its own, so that the URL parser (url.cpp) links without the engine.
#include "curl_handles.hpp"

#include <mutex>

namespace nettool::http {

void ensure_curl_initialized() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

} // namespace nettool::http
