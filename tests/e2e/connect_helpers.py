"""Peers for the connect tests: small Python servers in threads (the essay's socket module),
each on port 0 of loopback, each bounded by a deadline."""
import hashlib
import socket
import threading
import time

from conftest import DEADLINE


class Server:
    """A TCP (or unix) listener served by `handler(conn)` in a thread, for one or more clients.
    `received` collects what handler functions store; `error` records a handler exception."""

    def __init__(self, handler, family=socket.AF_INET, address=("127.0.0.1", 0), clients=1):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.sock.settimeout(DEADLINE)
        name = self.sock.getsockname()
        self.port = name[1] if isinstance(name, tuple) else None
        self.handler = handler
        self.clients = clients
        self.received = []
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for _ in range(self.clients):
                conn, _ = self.sock.accept()
                conn.settimeout(DEADLINE)
                with conn:
                    self.handler(self, conn)
        except Exception as e:  # reported by join()
            self.error = e

    def join(self, timeout=DEADLINE):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "server thread did not finish"
        self.sock.close()
        if self.error:
            raise self.error


def recv_to_eof(conn):
    chunks = []
    while True:
        data = conn.recv(1 << 20)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def read_all_then_answer(reply_size):
    """Reads to EOF, then answers 'LENGTH SHA256\\n' and `reply_size` bytes, and closes."""
    def handler(server, conn):
        data = recv_to_eof(conn)
        server.received.append(data)
        body = hashlib.sha256(data).hexdigest().encode()
        conn.sendall(b"%d %s\n" % (len(data), body) + reply_payload(reply_size))
    return handler


def reply_payload(size):
    block = bytes(range(256))
    return (block * (size // 256 + 1))[:size]


def free_port():
    """A port that was free a moment ago (for peers that cannot report their port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def adjacent_open_and_closed_ports(limit=50):
    """(listener at P, bound non-listening socket at P+1): P is open, P+1 refuses."""
    for _ in range(limit):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        closed = socket.socket()
        try:
            closed.bind(("127.0.0.1", port + 1))
            return listener, closed
        except OSError:
            listener.close()
            closed.close()
    raise RuntimeError("no two adjacent free ports found")


def closed_port_socket():
    """A bound, non-listening socket: connecting to its port is refused, and the port stays
    reserved while it is open."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


def wait_listening(port, deadline=DEADLINE):
    """Waits until some socket listens on 127.0.0.1:PORT, reading the kernel's table (a probe
    connection would use up a one-shot server like nc -l)."""
    needle = ":%04X " % port
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(needle.strip()) and fields[3] == "0A":
                    return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port} after {deadline}s")


def black_hole():
    """A listener whose accept queue is full, so new connects stall (SYNs dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(listener.getsockname())
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.1)  # lets the admitted handshakes complete; the assertion is not time-based
    return listener, fillers


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
