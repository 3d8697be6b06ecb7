"""An HTTP server the retrieve/clean tests control: resources with ETag, Last-Modified,
Content-Disposition, byte ranges with If-Range, If-Modified-Since, a connection dropped
half-way, and a slow body. Runs in threads of the pytest process on 127.0.0.1 port 0 and
records every request it saw (method, path, headers)."""
import email.utils
import hashlib
import http.server
import os
import socket
import threading
import time


class Resource:
    def __init__(self, body, etag='"v1"', last_modified=None, disposition=None,
                 drop_after=None, drops=1, chunk_delay=0.0, chunk=16384, ranges=True):
        self.body = body
        self.etag = etag
        self.last_modified = last_modified  # unix seconds, or None
        self.disposition = disposition
        self.drop_after = drop_after  # close the connection after this many body bytes...
        self.drops = drops            # ...this many times
        self.chunk_delay = chunk_delay
        self.chunk = chunk
        self.ranges = ranges

    @property
    def sha256(self):
        return hashlib.sha256(self.body).hexdigest()

    def last_modified_text(self):
        if self.last_modified is None:
            return None
        return email.utils.formatdate(self.last_modified, usegmt=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server.owner
        with server.lock:
            server.requests.append({"method": "GET", "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()}})
            res = server.resources.get(self.path)
        if res is None:
            self._simple(404, b"not found\n")
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
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if rng and res.ranges and rng.startswith("bytes=") and rng.endswith("-"):
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range in (res.etag, res.last_modified_text()):
                start = int(rng[len("bytes="):-1])
                if start >= len(res.body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(res.body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        body = res.body[start:]
        self.send_response(status)
        self._validators(res)
        if res.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(res.body) - 1}/{len(res.body)}")
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

    def _validators(self, res):
        if res.etag:
            self.send_header("ETag", res.etag)
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
