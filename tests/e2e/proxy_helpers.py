"""Proxies for the connect --proxy tests: a SOCKS5 proxy (RFC 1928, username/password of
RFC 1929) and an HTTP CONNECT proxy, each a small Python server in threads on port 0 of
loopback. Each logs what its clients asked for (a name or an address: who resolved it) and can
be told to refuse, to demand credentials, or to lie (malformed, truncated, oversized replies).
`names` maps host names that only the proxy can resolve (nettool cannot) to addresses.
Every socket has a deadline; the relay keeps half-close in each direction."""
import base64
import socket
import struct
import threading

from conftest import DEADLINE


def _recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the client closed mid-handshake")
        data += chunk
    return data


def _pump(src, dst):
    """One direction of the relay: src to dst, then a FIN to dst (half-close)."""
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _wait_for_close(conn):
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def _relay(client, target):
    up = threading.Thread(target=_pump, args=(client, target), daemon=True)
    up.start()
    _pump(target, client)
    up.join(DEADLINE * 6)
    target.close()


class _ProxyServer:
    """Accepts clients in a thread, each handled in a thread of its own. `log` holds one dict per
    request seen (kind, host, port, address type, user); `errors` what a handler raised."""

    def __init__(self, user=None, password=None, mode=None, names=None):
        self.user = user
        self.password = password
        self.mode = mode
        self.names = names or {}
        self.log = []
        self.errors = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._threads = []
        self._stopped = False
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self):
        while not self._stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(DEADLINE * 6)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            with conn:
                self.handle(conn)
        except (ConnectionError, socket.timeout) as e:
            self.errors.append(e)
        except OSError as e:
            self.errors.append(e)

    def stop(self):
        self._stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._accepter.join(DEADLINE)
        for t in self._threads:
            t.join(DEADLINE)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _connect_target(names, host, port):
    """The proxy's own resolution (its `names` first) and connection (create_connection tries
    every address)."""
    s = socket.create_connection((names.get(host, host), port), timeout=DEADLINE)
    s.settimeout(DEADLINE * 6)
    return s


class Socks5Proxy(_ProxyServer):
    """mode: None (honest), ("refuse", REP), "bad_version", "bad_address_type", "unassigned",
    "close_after_greeting", "close_after_request", "short_reply" (half a reply, then close),
    "silent" (reads the greeting, never answers), "coalesce" (the reply and the target's first
    bytes in one send), "close_after_reply" (connects, replies success, then closes)."""

    def handle(self, conn):
        version, count = _recv_exact(conn, 2)
        methods = _recv_exact(conn, count)
        if version != 5:
            return
        if self.mode == "silent":
            _wait_for_close(conn)
            return
        if self.mode == "close_after_greeting":
            return
        if self.mode == "bad_version":
            conn.sendall(b"\x04\x00")
            return
        wanted = 2 if self.user is not None else 0
        if wanted not in methods:
            conn.sendall(b"\x05\xff")
            return
        conn.sendall(bytes([5, wanted]))
        user = None
        if wanted == 2:
            _, ulen = _recv_exact(conn, 2)
            user = _recv_exact(conn, ulen).decode()
            (plen,) = _recv_exact(conn, 1)
            password = _recv_exact(conn, plen).decode()
            ok = user == self.user and password == self.password
            conn.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                self.log.append({"kind": "socks5", "auth": "rejected", "user": user})
                return
        _, cmd, _, atyp = _recv_exact(conn, 4)
        if atyp == 1:
            host = socket.inet_ntop(socket.AF_INET, _recv_exact(conn, 4))
            address_type = "ipv4"
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, _recv_exact(conn, 16))
            address_type = "ipv6"
        elif atyp == 3:
            (n,) = _recv_exact(conn, 1)
            host = _recv_exact(conn, n).decode()
            address_type = "domain"
        else:
            return
        (port,) = struct.unpack("!H", _recv_exact(conn, 2))
        self.log.append({"kind": "socks5", "cmd": cmd, "host": host, "port": port,
                         "address_type": address_type, "user": user})
        if self.mode == "close_after_request":
            return
        if self.mode == "short_reply":
            conn.sendall(b"\x05\x00\x00")
            return
        if self.mode == "bad_address_type":
            conn.sendall(b"\x05\x00\x00\x09" + b"\x00" * 6)
            return
        if self.mode == "unassigned":
            conn.sendall(b"\x05\x42\x00\x01" + b"\x00" * 6)
            return
        if isinstance(self.mode, tuple) and self.mode[0] == "refuse":
            conn.sendall(bytes([5, self.mode[1], 0, 1]) + b"\x00" * 6)
            return
        try:
            target = _connect_target(self.names, host, port)
        except OSError:
            conn.sendall(b"\x05\x05\x00\x01" + b"\x00" * 6)  # connection refused
            return
        bound = target.getsockname()
        if target.family == socket.AF_INET6:
            address = b"\x04" + socket.inet_pton(socket.AF_INET6, bound[0])
        else:
            address = b"\x01" + socket.inet_aton(bound[0])
        reply = b"\x05\x00\x00" + address + struct.pack("!H", bound[1])
        conn.sendall(reply + target.recv(65536) if self.mode == "coalesce" else reply)
        if self.mode == "close_after_reply":
            target.close()
            return
        _relay(conn, target)


class HttpConnectProxy(_ProxyServer):
    """mode: None (honest), ("refuse", "403 Forbidden"), "garbage", "close_after_request",
    "oversized" (a header that never ends), "coalesce" (the 200 and the target's first bytes in
    one send), "silent" (reads the request, never answers), "close_after_reply" (connects,
    answers 200, then closes)."""

    def handle(self, conn):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
            if len(head) > 65536:
                return
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, authority, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        host, _, port = authority.rpartition(":")
        host = host.strip("[]")
        entry = {"kind": "http", "method": method, "host": host, "port": int(port),
                 "authorization": headers.get("proxy-authorization")}
        self.log.append(entry)
        if self.mode == "close_after_request":
            return
        if self.mode == "silent":
            _wait_for_close(conn)
            return
        if self.mode == "garbage":
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            return
        if self.mode == "oversized":
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Filler: ")
            try:
                for _ in range(64):
                    conn.sendall(b"a" * 16384)
            except OSError:
                pass
            return
        if self.user is not None:
            expected = "Basic " + base64.b64encode(
                f"{self.user}:{self.password}".encode()).decode()
            if headers.get("proxy-authorization") != expected:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                             b"Content-Length: 0\r\n\r\n")
                return
        if isinstance(self.mode, tuple) and self.mode[0] == "refuse":
            conn.sendall(b"HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n" % self.mode[1].encode())
            return
        if method != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            target = _connect_target(self.names, host, int(port))
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        ok = b"HTTP/1.1 200 Connection established\r\n\r\n"
        if self.mode == "coalesce":
            first = target.recv(65536)
            conn.sendall(ok + first)
        else:
            conn.sendall(ok)
        if self.mode == "close_after_reply":
            target.close()
            return
        if rest:
            target.sendall(rest)
        _relay(conn, target)
