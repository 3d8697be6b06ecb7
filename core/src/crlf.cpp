#include <nettool/crlf.hpp>

namespace nettool {

void crlf_transform(std::span<const char> in, std::string& out, char& previous) {
    out.reserve(out.size() + in.size() + in.size() / 16);
    for (const char c : in) {
        if (c == '\n' && previous != '\r') out += '\r';
        out += c;
        previous = c;
    }
}

} // namespace nettool
