// The /proc side of the port-holder lookup: /proc/net/{tcp,tcp6,udp,udp6} as the socket table
// when netlink is unavailable, and /proc/PID/fd links ("socket:[INODE]") to find who holds
// a socket.
#include "port_table.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <dirent.h>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string_view>
#include <unistd.h>

namespace nettool::detail {
namespace {

constexpr unsigned k_tcp_listen = 0x0A; // TCP_LISTEN as /proc/net/tcp prints the state

template <class T> bool parse_hex(std::string_view text, T& value) {
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value, 16);
    return ec == std::errc{} && ptr == end;
}

// "0100007F:0401" (IPv4) or 32 hex digits ":" port (IPv6). The kernel prints each 32-bit word
// of the address as a native integer, so copying the parsed word back natively restores the
// network-order bytes on any endianness.
bool parse_local_address(std::string_view text, int family, BoundSocket& socket) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view address = text.substr(0, colon);
    const std::size_t words = family == AF_INET ? 1 : 4;
    if (address.size() != words * 8) return false;
    for (std::size_t i = 0; i < words; ++i) {
        std::uint32_t word = 0;
        if (!parse_hex(address.substr(i * 8, 8), word)) return false;
        std::memcpy(socket.addr.data() + i * 4, &word, 4);
    }
    return parse_hex(text.substr(colon + 1), socket.port);
}

struct DirClose {
    void operator()(DIR* dir) const { ::closedir(dir); }
};
using Dir = std::unique_ptr<DIR, DirClose>;

bool all_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "socket:[12345]" -> 12345; anything else -> 0.
std::uint64_t socket_inode(std::string_view link) {
    constexpr std::string_view prefix = "socket:[";
    if (link.size() <= prefix.size() + 1 || link.substr(0, prefix.size()) != prefix ||
        link.back() != ']') {
        return 0;
    }
    std::uint64_t inode = 0;
    const std::string_view digits = link.substr(prefix.size(), link.size() - prefix.size() - 1);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), inode);
    return ec == std::errc{} && ptr == digits.data() + digits.size() ? inode : 0;
}

std::string read_comm(const std::string& pid_dir) {
    std::ifstream in(pid_dir + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

// Which of the inodes the process directory holds (each once). A directory we may not read
// (another user's process) holds nothing we can see.
std::set<std::uint64_t> held_inodes(const std::string& pid_dir,
                                    const std::set<std::uint64_t>& inodes) {
    std::set<std::uint64_t> held;
    const std::string fd_dir = pid_dir + "/fd";
    Dir dir{::opendir(fd_dir.c_str())};
    if (!dir) return held;
    char target[64];
    while (const dirent* entry = ::readdir(dir.get())) {
        if (entry->d_name[0] == '.') continue;
        const std::string link = fd_dir + "/" + entry->d_name;
        const ssize_t length = ::readlink(link.c_str(), target, sizeof target);
        if (length <= 0 || static_cast<std::size_t>(length) >= sizeof target) continue;
        const std::uint64_t inode =
            socket_inode(std::string_view(target, static_cast<std::size_t>(length)));
        if (inode != 0 && inodes.count(inode) != 0) held.insert(inode);
    }
    return held;
}

} // namespace

std::string proc_net_path(Transport transport, int family) {
    return fmt::format("/proc/net/{}{}", transport == Transport::udp ? "udp" : "tcp",
                       family == AF_INET6 ? "6" : "");
}

Result<std::vector<BoundSocket>> proc_net_sockets(const std::string& path, Transport transport,
                                                  int family) {
    std::ifstream in(path);
    if (!in) return fail(ErrorKind::file_io, fmt::format("open {}: {}", path, errno_text(errno)));
    std::vector<BoundSocket> sockets;
    std::string line;
    std::getline(in, line); // the column titles
    while (std::getline(in, line)) {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
        std::istringstream fields(line);
        std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
        if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
              timeout >> inode)) {
            continue;
        }
        unsigned state_value = 0;
        if (!parse_hex(state, state_value)) continue;
        if (transport != Transport::udp && state_value != k_tcp_listen) continue;
        BoundSocket socket;
        socket.family = family;
        socket.state = static_cast<std::uint8_t>(state_value);
        if (!parse_local_address(local, family, socket)) continue;
        const auto [ptr, ec] =
            std::from_chars(inode.data(), inode.data() + inode.size(), socket.inode);
        if (ec != std::errc{} || ptr != inode.data() + inode.size()) continue;
        sockets.push_back(socket);
    }
    return sockets;
}

InodeOwners owners_of_inodes(const std::set<std::uint64_t>& inodes, const std::string& proc_dir) {
    InodeOwners result;
    std::set<std::uint64_t> found;
    if (!inodes.empty()) {
        if (Dir dir{::opendir(proc_dir.c_str())}) {
            while (const dirent* entry = ::readdir(dir.get())) {
                if (!all_digits(entry->d_name)) continue;
                const std::string pid_dir = proc_dir + "/" + entry->d_name;
                const std::set<std::uint64_t> held = held_inodes(pid_dir, inodes);
                if (held.empty()) continue;
                PortOwner owner;
                std::from_chars(entry->d_name, entry->d_name + std::strlen(entry->d_name),
                                owner.pid);
                owner.program = read_comm(pid_dir);
                for (const std::uint64_t inode : held)
                    result.by_inode[inode].push_back(owner);
                found.insert(held.begin(), held.end());
                result.owners.push_back(std::move(owner));
            }
        }
    }
    const auto by_pid = [](const PortOwner& a, const PortOwner& b) { return a.pid < b.pid; };
    std::sort(result.owners.begin(), result.owners.end(), by_pid);
    for (auto& [inode, owners] : result.by_inode)
        std::sort(owners.begin(), owners.end(), by_pid);
    std::set_difference(inodes.begin(), inodes.end(), found.begin(), found.end(),
                        std::inserter(result.unowned, result.unowned.end()));
    return result;
}

} // namespace nettool::detail
