#include "json_lines.hpp"

namespace nettool::cli {

std::string json_line(const Json& object) {
    return object.dump(-1, ' ', true, Json::error_handler_t::replace) + "\n";
}

bool write_json_line(std::FILE* stream, const Json& object) {
    const std::string line = json_line(object);
    const bool written = std::fwrite(line.data(), 1, line.size(), stream) == line.size();
    return std::fflush(stream) == 0 && written;
}

Json address_json(const SocketAddress& address) {
    if (address.family() == AF_UNIX || address.empty()) return {{"path", address.host()}};
    return {{"address", address.host()}, {"port", address.port()}};
}

} // namespace nettool::cli
