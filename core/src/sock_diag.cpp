// The kernel's socket table over NETLINK_SOCK_DIAG (inet_diag), framed by libmnl: one dump
// request per (protocol, family), answered with an inet_diag_msg per socket.
#include "port_table.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

struct DumpState {
    int family = AF_INET;
    std::vector<BoundSocket> sockets;
};

int attribute_callback(const nlattr* attr, void* data) {
    auto* table = static_cast<const nlattr**>(data);
    const auto type = mnl_attr_get_type(attr);
    if (mnl_attr_type_valid(attr, INET_DIAG_MAX) < 0) return MNL_CB_OK; // newer kernel: skip
    table[type] = attr;
    return MNL_CB_OK;
}

int message_callback(const nlmsghdr* header, void* data) {
    auto* state = static_cast<DumpState*>(data);
    if (header->nlmsg_len < mnl_nlmsg_size(sizeof(inet_diag_msg))) return MNL_CB_ERROR;
    const auto* msg = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(header));
    if (msg->idiag_family != state->family) return MNL_CB_OK;

    BoundSocket socket;
    socket.family = msg->idiag_family;
    socket.port = ntohs(msg->id.idiag_sport);
    socket.inode = msg->idiag_inode;
    std::memcpy(socket.addr.data(), msg->id.idiag_src,
                socket.family == AF_INET ? 4 : socket.addr.size());

    const nlattr* table[INET_DIAG_MAX + 1] = {};
    mnl_attr_parse(header, sizeof(inet_diag_msg), attribute_callback, table);
    if (table[INET_DIAG_SKV6ONLY] != nullptr &&
        mnl_attr_get_payload_len(table[INET_DIAG_SKV6ONLY]) >= 1) {
        socket.v6only = mnl_attr_get_u8(table[INET_DIAG_SKV6ONLY]) != 0;
    }
    state->sockets.push_back(socket);
    return MNL_CB_OK;
}

} // namespace

Result<std::vector<BoundSocket>> sock_diag_sockets(Transport transport, int family) {
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
    auto* request = static_cast<inet_diag_req_v2*>(
        mnl_nlmsg_put_extra_header(header, sizeof(inet_diag_req_v2)));
    request->sdiag_family = static_cast<std::uint8_t>(family);
    if (transport == Transport::udp) {
        request->sdiag_protocol = IPPROTO_UDP;
        request->idiag_states = ~0U; // bound UDP sockets are TCP_CLOSE, connected ones ESTABLISHED
    } else {
        request->sdiag_protocol = IPPROTO_TCP;
        request->idiag_states = 1U << TCP_LISTEN;
    }

    if (mnl_socket_sendto(socket.get(), header, header->nlmsg_len) < 0) {
        return fail(ErrorKind::network,
                    fmt::format("send to NETLINK_SOCK_DIAG: {}", errno_text(errno)));
    }

    DumpState state;
    state.family = family;
    const unsigned port_id = mnl_socket_get_portid(socket.get());
    // Bounded: the kernel ends every dump with NLMSG_DONE; the cap only guards against a bug.
    for (int round = 0; round < 1'000'000; ++round) {
        const ssize_t received = mnl_socket_recvfrom(socket.get(), buffer.data(), buffer.size());
        if (received < 0) {
            return fail(ErrorKind::network,
                        fmt::format("receive from NETLINK_SOCK_DIAG: {}", errno_text(errno)));
        }
        const int result = mnl_cb_run(buffer.data(), static_cast<std::size_t>(received), sequence,
                                      port_id, message_callback, &state);
        if (result == MNL_CB_STOP) return std::move(state.sockets);
        if (result < 0) {
            return fail(ErrorKind::network,
                        fmt::format("NETLINK_SOCK_DIAG dump: {}", errno_text(errno)));
        }
    }
    return fail(ErrorKind::network, "NETLINK_SOCK_DIAG dump did not end");
}

} // namespace nettool::detail
