"""An HTTP server the retrieve/clean tests control: resources with ETag, Last-Modified,
Content-Disposition, byte ranges with If-Range (or ignoring it), If-Modified-Since, gzip
content coding (when asked, or always), a connection dropped half-way, and a slow body. Runs in
threads of the pytest process on 127.0.0.1 port 0 and records every request it saw (method,
path, headers)."""
import email.utils
import gzip
import hashlib
import http.server
import os
import socket
import threading
import time

import pytest


class Resource:
    def __init__(self, body, etag='"v1"', last_modified=None, disposition=None,
                 drop_after=None, drops=1, chunk_delay=0.0, chunk=16384, ranges=True,
                 coding=None, honor_if_range=True):
        self.body = body
        # None: identity only; "when_asked": gzip when Accept-Encoding names it; "always".
        self.coding = coding
        self.honor_if_range = honor_if_range
        self.etag = etag
        self.last_modified = last_modified  # unix seconds, or None
        self.disposition = disposition
        self.busy = 0                 # answer this many GETs with busy_status + Retry-After
        self.busy_status = 503
        self.retry_after = "1"
        self.drop_after = drop_after  # close the connection after this many body bytes...
        self.drops = drops            # ...this many times
        self.chunk_delay = chunk_delay
        self.chunk = chunk
        self.ranges = ranges

    @property
    def sha256(self):
        return hashlib.sha256(self.body).hexdigest()

    @property
    def gzipped(self):
        """The gzip representation (deterministic: no name, no time)."""
        return gzip.compress(self.body, mtime=0)

    def wants_gzip(self, accept_encoding):
        if self.coding == "always":
            return True
        return self.coding == "when_asked" and "gzip" in (accept_encoding or "")

    def last_modified_text(self):
        if self.last_modified is None:
            return None
        return email.utils.formatdate(self.last_modified, usegmt=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        server = self.server.owner
        with server.lock:
            server.open_connections += 1
            server.connections += 1
            server.most_open = max(server.most_open, server.open_connections)

    def finish(self):
        try:
            super().finish()
        finally:
            server = self.server.owner
            with server.lock:
                server.open_connections -= 1

    def do_GET(self):
        server = self.server.owner
        with server.lock:
            server.requests.append({"method": "GET", "path": self.path, "time": time.monotonic(),
                                    "headers": {k.lower(): v for k, v in self.headers.items()}})
            res = server.resources.get(self.path)
            busy = res is not None and res.busy > 0
            if busy:
                res.busy -= 1
        if res is None:
            self._simple(404, b"not found\n")
            return
        if busy:
            self.send_response(res.busy_status)
            self.send_header("Retry-After", res.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ims = self.headers.get("If-Modified-Since")
        if ims and res.last_modified is not None:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
            if res.last_modified <= since:
                self.send_response(304)
                self._validators(res)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        coded = res.wants_gzip(self.headers.get("Accept-Encoding"))
        whole = res.gzipped if coded else res.body
        # A representation has its own validator (RFC 9110 8.8.3): the gzip one differs.
        etag = res.etag[:-1] + '-gz"' if coded and res.etag else res.etag
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if rng and res.ranges and rng.startswith("bytes=") and rng.endswith("-"):
            if_range = self.headers.get("If-Range")
            if (if_range is None or not res.honor_if_range
                    or if_range in (etag, res.last_modified_text())):
                start = int(rng[len("bytes="):-1])
                if start >= len(whole):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(whole)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        body = whole[start:]
        self.send_response(status)
        self._validators(res, etag)
        if coded:
            self.send_header("Content-Encoding", "gzip")
        if res.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(whole) - 1}/{len(whole)}")
        if res.disposition:
            self.send_header("Content-Disposition", res.disposition)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        limit = len(body)
        drop = False
        with server.lock:
            if res.drop_after is not None and res.drops > 0 and start < res.drop_after:
                res.drops -= 1
                limit = res.drop_after - start
                drop = True
        sent = 0
        try:
            while sent < limit:
                piece = body[sent:min(limit, sent + res.chunk)]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                if res.chunk_delay:
                    time.sleep(res.chunk_delay)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if drop:
            # A connection lost half-way: the client saw fewer bytes than Content-Length.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _validators(self, res, etag=None):
        etag = etag if etag is not None else res.etag
        if etag:
            self.send_header("ETag", etag)
        lm = res.last_modified_text()
        if lm:
            self.send_header("Last-Modified", lm)

    def _simple(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class DownloadServer:
    def __init__(self):
        self.resources = {}
        self.requests = []
        self.lock = threading.Lock()
        self.open_connections = 0  # connections open now, the most at once, and in all
        self.most_open = 0
        self.connections = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path, resource):
        with self.lock:
            self.resources[path] = resource
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_for(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(predicate, timeout, what):
    """Polls `predicate` (bounded in time) until it is true; raises with `what` otherwise."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


def file_size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1


class RawServer:
    """A raw-socket HTTP peer for hostile replies. Each connection's request head is read (under
    a deadline) and recorded; `reply(head, n)` (n counts connections from 0) returns the bytes
    to send and how to end: "close" (FIN) or "reset" (RST). One request per connection."""

    def __init__(self, reply):
        self.reply = reply
        self.requests = []
        self.lock = threading.Lock()
        self.open_connections = 0  # connections open now, the most at once, and in all
        self.most_open = 0
        self.connections = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, path="/x"):
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self):
        count = 0
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn, count), daemon=True).start()
            count += 1

    def _serve(self, conn, n):
        import struct
        conn.settimeout(10)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            text = head.decode("latin-1")
            with self.lock:
                self.requests.append(text)
            data, end = self.reply(text, n)
            conn.sendall(data)
            if end == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()



# Fixtures shared by the download tests (a test module imports them by name).
@pytest.fixture
def server():
    """A DownloadServer for one test."""
    s = DownloadServer()
    yield s
    s.close()


@pytest.fixture
def area(tmp_path):
    """The temp area a test's downloads use (NETTOOL_TMPDIR)."""
    return tmp_path / "area"


@pytest.fixture
def env(area):
    """The environment that points nettool at the test's own temp area."""
    return {**os.environ, "NETTOOL_TMPDIR": str(area)}
