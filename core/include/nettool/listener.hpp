#pragma once
// Listening (TCP, Unix) and bound (UDP) sockets for `serve`, opened from an Endpoint
// (nettool-serve(1)): a name that resolves to several addresses (localhost: 127.0.0.1 and ::1)
// gets one socket per address; "*" is every interface, dual-stack; port 0 picks a free port,
// the same one for every address of the name. SO_REUSEADDR is always set.
//
// Unix paths: an existing socket file is replaced only when nothing listens on it (connect()
// is refused); a live server's socket or a file that is not a socket is never touched. The
// socket file is removed when the Listener is destroyed, if it is still the one we created.
#include <nettool/endpoint.hpp>
#include <nettool/error.hpp>
#include <nettool/socket_address.hpp>
#include <nettool/unique_fd.hpp>
#include <string>
#include <sys/types.h>
#include <vector>

namespace nettool {

struct ListenOptions {
    int backlog = 128;
    bool reuse_port = false; // SO_REUSEPORT
};

class Listener {
  public:
    Listener(UniqueFd fd, Transport transport, SocketAddress local);
    Listener(Listener&&) noexcept = default;
    Listener& operator=(Listener&&) noexcept = default;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener();

    int fd() const { return m_fd.get(); }
    Transport transport() const { return m_transport; }
    const SocketAddress& local() const { return m_local; }
    // Closes the socket now (stop accepting) and removes its socket file.
    void close();

    // Remembers the socket file to remove at close: only if it still is this inode.
    void own_socket_file(std::string path, dev_t device, ino_t inode);

  private:
    void remove_socket_file();

    UniqueFd m_fd;
    Transport m_transport;
    SocketAddress m_local;
    std::string m_socket_file;
    dev_t m_device = 0;
    ino_t m_inode = 0;
};

// Opens every socket the endpoint names, listening (stream) or bound (udp), non-blocking and
// close-on-exec. Errors: usage (2) for impossible requests, network (4) for resolution
// failures, addresses in use (with the holder named, see bind_diagnosis.hpp) and privileged
// ports, file_io (3) when a file that is not a socket sits at a Unix path.
Result<std::vector<Listener>> open_listeners(const Endpoint& endpoint,
                                             const ListenOptions& options);

// The Unix part of open_listeners (core/src/listener_unix.cpp).
Result<Listener> open_unix_listener(const Endpoint& endpoint, const ListenOptions& options);

} // namespace nettool
