#pragma once
// systemd's two small protocols for a server, spoken directly (sd_listen_fds(3) and
// sd_notify(3) without libsystemd, so that start-up stays as fast as nc's):
// - socket activation: the service manager binds the sockets and passes them from descriptor 3
//   on, with LISTEN_PID (this process), LISTEN_FDS (how many) and LISTEN_FDNAMES (their names);
// - readiness: "READY=1" as one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a
//   path, or '@' for the abstract namespace).
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <nettool/listener.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace nettool {

// The first descriptor systemd passes (SD_LISTEN_FDS_START).
inline constexpr int k_first_passed_fd = 3;

struct ActivationEnvironment {
    std::optional<std::string> listen_pid;
    std::optional<std::string> listen_fds;
    std::optional<std::string> listen_fdnames;
};

struct ActivatedSockets {
    std::vector<Listener> listeners; // in descriptor order
    std::vector<std::string> names;  // LISTEN_FDNAMES, one per listener ("" when not given)
};

// The sockets passed to process `self` (from descriptor first_fd on), or nullopt when there are
// none for it (LISTEN_PID unset or another process's, LISTEN_FDS unset or 0). Each descriptor must
// be a listening TCP or Unix stream socket or a bound UDP socket (getsockopt SO_DOMAIN, SO_TYPE,
// SO_ACCEPTCONN; the address from getsockname); it is made non-blocking and close-on-exec so that
// children do not inherit it. The Listener does not remove a Unix socket file: systemd owns it.
// Fails (usage, 2) for a bad LISTEN_FDS, a descriptor of another kind (a connected socket
// from Accept=yes, a Unix datagram socket, not a socket), or stream and datagram sockets
// passed together (one server serves one kind).
Result<std::optional<ActivatedSockets>> sockets_from(const ActivationEnvironment& environment,
                                                     pid_t self, int first_fd = k_first_passed_fd);

// What serve says under -v: "socket activation: serving 2 passed sockets (web, local); the
// endpoint localhost:1024 is not bound".
std::string activation_note(const ActivatedSockets& sockets, const Endpoint& endpoint);

// sockets_from() of this process's environment; when the sockets are for this process, the
// three variables are removed from the environment (children do not see them).
Result<std::optional<ActivatedSockets>> activated_sockets();

// Sends `state` (such as "READY=1") as one datagram to the socket named by `address` ("/path"
// or "@abstract"). Fails (generic, 1) with a sentence naming the address.
Status notify_socket_send(const std::string& address, std::string_view state);

// notify_socket_send() to $NOTIFY_SOCKET; does nothing when it is unset or empty.
Status notify_service_manager(std::string_view state);

} // namespace nettool
