// The kernel's socket table over NETLINK_SOCK_DIAG, framed by libmnl: one dump request per
// (protocol, family) for inet_diag, one for unix_diag, answered with a message per socket.
#include "port_table.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace nettool::detail {
namespace {

struct MnlSocketClose {
    void operator()(mnl_socket* socket) const { mnl_socket_close(socket); }
};
using MnlSocket = std::unique_ptr<mnl_socket, MnlSocketClose>;

// A dump of a few thousand sockets arrives in several datagrams; 32 KiB each is what the
// kernel uses for its own dump skbs, so nothing is truncated.
constexpr std::size_t k_receive_buffer = 32768;

// One SOCK_DIAG_BY_FAMILY dump: `request` (inet_diag_req_v2 or unix_diag_req) is sent, and
// `on_message` runs for every answer until the kernel's NLMSG_DONE.
template <class Request> Status dump(const Request& request, mnl_cb_t on_message, void* data) {
    MnlSocket socket{mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC)};
    if (!socket)
        return fail(ErrorKind::network,
                    fmt::format("open NETLINK_SOCK_DIAG: {}", errno_text(errno)));
    if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
        return fail(ErrorKind::network,
                    fmt::format("bind NETLINK_SOCK_DIAG: {}", errno_text(errno)));
    }

    std::vector<char> buffer(k_receive_buffer);
    nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
    header->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    const auto sequence = static_cast<unsigned>(::getpid());
    header->nlmsg_seq = sequence;
    std::memcpy(mnl_nlmsg_put_extra_header(header, sizeof request), &request, sizeof request);

    if (mnl_socket_sendto(socket.get(), header, header->nlmsg_len) < 0) {
        return fail(ErrorKind::network,
                    fmt::format("send to NETLINK_SOCK_DIAG: {}", errno_text(errno)));
    }
    const unsigned port_id = mnl_socket_get_portid(socket.get());
    // Bounded: the kernel ends every dump with NLMSG_DONE; the cap only guards against a bug.
    for (int round = 0; round < 1'000'000; ++round) {
        const ssize_t received = mnl_socket_recvfrom(socket.get(), buffer.data(), buffer.size());
        if (received < 0) {
            return fail(ErrorKind::network,
                        fmt::format("receive from NETLINK_SOCK_DIAG: {}", errno_text(errno)));
        }
        const int result = mnl_cb_run(buffer.data(), static_cast<std::size_t>(received), sequence,
                                      port_id, on_message, data);
        if (result == MNL_CB_STOP) return {};
        if (result < 0) {
            return fail(ErrorKind::network,
                        fmt::format("NETLINK_SOCK_DIAG dump: {}", errno_text(errno)));
        }
    }
    return fail(ErrorKind::network, "NETLINK_SOCK_DIAG dump did not end");
}

// Collects the attributes of one message into table[type] (types up to max; newer ones are
// skipped).
struct AttributeTable {
    const nlattr** table;
    int max;
};

int attribute_callback(const nlattr* attr, void* data) {
    auto* table = static_cast<AttributeTable*>(data);
    const auto type = mnl_attr_get_type(attr);
    if (mnl_attr_type_valid(attr, static_cast<std::uint16_t>(table->max)) < 0) return MNL_CB_OK;
    table->table[type] = attr;
    return MNL_CB_OK;
}

struct InetDumpState {
    int family = AF_INET;
    std::vector<BoundSocket> sockets;
};

int inet_message_callback(const nlmsghdr* header, void* data) {
    auto* state = static_cast<InetDumpState*>(data);
    if (header->nlmsg_len < mnl_nlmsg_size(sizeof(inet_diag_msg))) return MNL_CB_ERROR;
    const auto* msg = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(header));
    if (msg->idiag_family != state->family) return MNL_CB_OK;

    BoundSocket socket;
    socket.family = msg->idiag_family;
    socket.port = ntohs(msg->id.idiag_sport);
    socket.inode = msg->idiag_inode;
    socket.state = msg->idiag_state;
    std::memcpy(socket.addr.data(), msg->id.idiag_src,
                socket.family == AF_INET ? 4 : socket.addr.size());

    const nlattr* attributes[INET_DIAG_MAX + 1] = {};
    AttributeTable table{attributes, INET_DIAG_MAX};
    mnl_attr_parse(header, sizeof(inet_diag_msg), attribute_callback, &table);
    if (attributes[INET_DIAG_SKV6ONLY] != nullptr &&
        mnl_attr_get_payload_len(attributes[INET_DIAG_SKV6ONLY]) >= 1) {
        socket.v6only = mnl_attr_get_u8(attributes[INET_DIAG_SKV6ONLY]) != 0;
    }
    state->sockets.push_back(socket);
    return MNL_CB_OK;
}

int unix_message_callback(const nlmsghdr* header, void* data) {
    auto* sockets = static_cast<std::vector<UnixSocket>*>(data);
    if (header->nlmsg_len < mnl_nlmsg_size(sizeof(unix_diag_msg))) return MNL_CB_ERROR;
    const auto* msg = static_cast<const unix_diag_msg*>(mnl_nlmsg_get_payload(header));
    if (msg->udiag_family != AF_UNIX) return MNL_CB_OK;

    UnixSocket socket;
    socket.inode = msg->udiag_ino;
    socket.type = msg->udiag_type;
    const nlattr* attributes[UNIX_DIAG_MAX + 1] = {};
    AttributeTable table{attributes, UNIX_DIAG_MAX};
    mnl_attr_parse(header, sizeof(unix_diag_msg), attribute_callback, &table);
    if (const nlattr* name = attributes[UNIX_DIAG_NAME]; name != nullptr) {
        // sun_path as bound: a path (without its NUL), or a NUL and the abstract name.
        socket.name.assign(static_cast<const char*>(mnl_attr_get_payload(name)),
                           mnl_attr_get_payload_len(name));
    }
    if (const nlattr* vfs = attributes[UNIX_DIAG_VFS];
        vfs != nullptr && mnl_attr_get_payload_len(vfs) >= sizeof(unix_diag_vfs)) {
        unix_diag_vfs file{};
        std::memcpy(&file, mnl_attr_get_payload(vfs), sizeof file);
        socket.file_inode = file.udiag_vfs_ino;
        // The kernel's internal dev_t (12-bit major above a 20-bit minor) in stat()'s encoding.
        socket.file_device = makedev(file.udiag_vfs_dev >> 20, file.udiag_vfs_dev & 0xfffffU);
    }
    sockets->push_back(std::move(socket));
    return MNL_CB_OK;
}

} // namespace

Result<std::vector<BoundSocket>> sock_diag_sockets(Transport transport, int family) {
    inet_diag_req_v2 request{};
    request.sdiag_family = static_cast<std::uint8_t>(family);
    if (transport == Transport::udp) {
        request.sdiag_protocol = IPPROTO_UDP;
        request.idiag_states = ~0U; // bound UDP sockets are TCP_CLOSE, connected ones ESTABLISHED
    } else {
        request.sdiag_protocol = IPPROTO_TCP;
        request.idiag_states = 1U << TCP_LISTEN;
    }
    InetDumpState state;
    state.family = family;
    if (auto done = dump(request, inet_message_callback, &state); !done)
        return tl::unexpected(done.error());
    return std::move(state.sockets);
}

Result<std::vector<UnixSocket>> unix_diag_listeners() {
    unix_diag_req request{};
    request.sdiag_family = AF_UNIX;
    request.udiag_states = 1U << TCP_LISTEN; // unix_diag reuses the TCP state numbers
    request.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS;
    std::vector<UnixSocket> sockets;
    if (auto done = dump(request, unix_message_callback, &sockets); !done)
        return tl::unexpected(done.error());
    return sockets;
}

} // namespace nettool::detail
