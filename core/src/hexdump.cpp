#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <nettool/hexdump.hpp>
#include <unistd.h>

namespace nettool {

std::string hexdump_lines(char direction, std::uint64_t offset, std::span<const char> data) {
    std::string out;
    for (std::size_t line = 0; line < data.size(); line += 16) {
        const std::size_t count = std::min<std::size_t>(16, data.size() - line);
        out += fmt::format("{} {:08x}  ", direction, offset + line);
        for (std::size_t i = 0; i < 16; ++i) {
            if (i < count)
                out += fmt::format("{:02x} ", static_cast<unsigned char>(data[line + i]));
            else
                out += "   ";
            if (i == 7) out += ' ';
        }
        out += " |";
        for (std::size_t i = 0; i < count; ++i) {
            const auto c = static_cast<unsigned char>(data[line + i]);
            out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.';
        }
        out += "|\n";
    }
    return out;
}

Result<HexDump> HexDump::open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) {
        const int err = errno;
        return fail(ErrorKind::file_io,
                    fmt::format("cannot open hex dump file '{}': {}; choose a writable path", path,
                                errno_text(err)));
    }
    return HexDump(std::move(fd), path);
}

void HexDump::write(char direction, std::uint64_t& offset, std::span<const char> data) {
    if (!m_status || data.empty()) return;
    const std::string text = hexdump_lines(direction, offset, data);
    offset += data.size();
    m_status = util::write_all(m_fd.get(), text, fmt::format("hex dump file '{}'", m_path));
}

} // namespace nettool
