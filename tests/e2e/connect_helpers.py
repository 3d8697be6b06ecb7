"""Peers for the connect tests: small Python servers in threads (the essay's socket module),
each on port 0 of loopback, each bounded by a deadline."""
import hashlib
import os
import socket
import struct
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


# --- half-close, resets, big transfers ---------------------------------------------------------

BIG = 50 << 20  # the 50 MiB of the half-close tests


def big_payload_file(directory, name="big.bin", size=BIG):
    """A file of `size` random bytes; returns (path, sha256 hex)."""
    path = os.path.join(str(directory), name)
    data = os.urandom(size)
    with open(path, "wb") as f:
        f.write(data)
    return path, hashlib.sha256(data).hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class PipeReader:
    """Reads a pipe to EOF in a thread, hashing as it goes; `eof_at` is when EOF was read."""

    def __init__(self, f):
        self.sha = hashlib.sha256()
        self.size = 0
        self.head = bytearray()  # the first bytes, for small assertions
        self.eof_at = None
        self._thread = threading.Thread(target=self._run, args=(f,), daemon=True)
        self._thread.start()

    def _run(self, f):
        while True:
            chunk = os.read(f.fileno(), 1 << 20)
            if not chunk:
                self.eof_at = time.monotonic()
                return
            self.sha.update(chunk)
            if len(self.head) < 65536:
                self.head += chunk[:65536 - len(self.head)]
            self.size += len(chunk)

    def wait_for(self, size, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while self.size < size and self.eof_at is None and time.monotonic() < end:
            time.sleep(0.005)
        return self.size

    def join(self, timeout=DEADLINE):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the pipe never reached end-of-file"
        return self.sha.hexdigest()


def reset(sock):
    """Closes with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def recv_hashing(conn):
    """Reads to EOF; returns (size, sha256 hex)."""
    h = hashlib.sha256()
    size = 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            return size, h.hexdigest()
        h.update(data)
        size += len(data)


def send_file(conn, path):
    with open(path, "rb") as f:
        conn.sendfile(f)


def live_processes(marker=None, pgid=None, exclude=()):
    """Pids of live (not zombie) processes whose command line holds `marker` or whose process
    group is `pgid`, from /proc; pids in `exclude` (the server naming the marker in its own
    arguments) are left out."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] in ("Z", "X"):
            continue
        if (marker is not None and marker in cmdline) or (pgid is not None and
                                                          int(fields[2]) == pgid):
            found.append(int(entry))
    return found


def wait_until(predicate, timeout=DEADLINE, step=0.02):
    """Polls predicate() until it is true or the time is up; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(step)
