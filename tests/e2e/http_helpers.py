"""A scriptable HTTP server for the get/retrieve end-to-end tests: Python's http.server in a
thread of the pytest process, on 127.0.0.1 port 0. Each test installs handlers per path and
inspects what the server received (method, path, headers, body)."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorded:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # email.message.Message: case-insensitive .get()
        self.body = body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self):
        server = self.server.owner
        body = self._read_body()
        record = Recorded(self.command, self.path, self.headers, body)
        with server.lock:
            server.requests.append(record)
        route = server.routes.get(self.path.split("?", 1)[0]) or server.routes.get(self.path)
        if route is None:
            respond(self, 404, b"no such path\n")
            return
        route(self, record)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _dispatch


def respond(handler, status, body=b"", headers=(), reason=None):
    """Sends a complete response with a Content-Length (HEAD: headers only)."""
    handler.send_response(status, reason)
    names = {name.lower() for name, _ in headers}
    for name, value in headers:
        handler.send_header(name, value)
    if "content-length" not in names:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD" and body:
        handler.wfile.write(body)


class HttpServer:
    def __init__(self, ssl_context=None):
        self.routes = {}
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.scheme = "http"
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def route(self, path, handler):
        """handler(request_handler, recorded) writes the response."""
        self.routes[path] = handler

    def static(self, path, body, status=200, headers=()):
        self.route(path, lambda h, r: respond(h, status, body, headers))

    def redirect(self, path, location, status=302):
        self.route(path, lambda h, r: respond(h, status, b"moved\n", [("Location", location)]))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def make_self_signed(directory):
    """A self-signed certificate for 127.0.0.1 (subjectAltName IP); returns (cert, key) paths."""
    import subprocess
    cert, key = f"{directory}/cert.pem", f"{directory}/key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
    return cert, key
