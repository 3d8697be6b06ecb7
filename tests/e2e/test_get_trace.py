"""get -v shows the exchange the way curl -v does — the request line and headers sent after
"> ", the status line and headers received after "< ", for every hop of a redirect chain —
escaped, with credentials redacted; --trace-ascii FILE writes the whole exchange, headers and
bodies both ways, unredacted, in curl's layout. Against Python's http.server on 127.0.0.1,
and a raw socket server for bytes http.server would not send."""
import base64
import os
import re
import socket
import stat
import threading

import pytest

from conftest import DEADLINE, run
from ftp_helpers import FtpServer
from http_helpers import HttpServer, respond


@pytest.fixture
def server():
    s = HttpServer()
    yield s
    s.close()


class RawServer:
    """Answers every request with `response`, written as given, then closes."""

    def __init__(self, response):
        self.response = response
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(DEADLINE)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    self.requests.append(head)
                    conn.sendall(self.response)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def sent(stderr):
    return [line[2:] for line in stderr.decode().splitlines() if line.startswith("> ")]


def received(stderr):
    return [line[2:] for line in stderr.decode().splitlines() if line.startswith("< ")]


def raw_control_bytes(data):
    return [hex(b) for b in data if (b < 0x20 and b != 0x0a) or b == 0x7f or 0x80 <= b <= 0x9f]


def test_verbose_shows_request_and_response_headers(server):
    server.static("/v", b"five\n", headers=[("X-Test", "yes")])
    r = run("get", "-v", "-H", "X-Mine: 1", server.url("/v"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"five\n"  # the headers go to stderr only
    out, back = sent(r.stderr), received(r.stderr)
    assert out[0] == "GET /v HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in out and "X-Mine: 1" in out
    assert any(line.startswith("User-Agent: nettool/") for line in out)
    assert back[0] == "HTTP/1.1 200 OK"
    assert "X-Test: yes" in back and "Content-Length: 5" in back
    # What the server saw is what was shown.
    [request] = server.requests
    assert request.headers.get("X-Mine") == "1"


def test_verbose_shows_every_hop_of_a_redirect(server):
    server.redirect("/from", "/to")
    server.static("/to", b"here\n")
    r = run("get", "-v", server.url("/from"))
    assert r.returncode == 0, r.stderr
    assert [line for line in sent(r.stderr) if line.startswith("GET ")] == \
        ["GET /from HTTP/1.1", "GET /to HTTP/1.1"]
    back = received(r.stderr)
    assert [line for line in back if line.startswith("HTTP/")] == \
        ["HTTP/1.1 302 Found", "HTTP/1.1 200 OK"]
    assert "Location: /to" in back
    lines = r.stderr.decode().splitlines()
    # In order: the first request, its answer, the second request, its answer.
    assert lines.index("> GET /from HTTP/1.1") < lines.index("< HTTP/1.1 302 Found") < \
        lines.index("> GET /to HTTP/1.1") < lines.index("< HTTP/1.1 200 OK")


def test_verbose_escapes_control_bytes_both_ways():
    raw = RawServer(b"HTTP/1.1 200 OK\x1b[2J\r\nX-Evil: \x1b]0;pwned\x07red\x9b31m\r\n"
                    b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n")
    try:
        r = run("get", "-v", "-H", "X-Mine: a\x1bb", raw.url("/e"))
    finally:
        raw.close()
    assert r.returncode == 0, r.stderr
    assert raw_control_bytes(r.stderr) == [], r.stderr
    text = r.stderr.decode()
    assert "< HTTP/1.1 200 OK\\x1b[2J\n" in text
    assert "< X-Evil: \\x1b]0;pwned\\x07red\\x9b31m\n" in text
    assert "> X-Mine: a\\x1bb\n" in text
    assert b"X-Mine: a\x1bb" in raw.requests[0]  # sent as given, shown escaped


def test_verbose_redacts_credentials_and_trace_keeps_them(server, tmp_path):
    server.static("/c", b"c\n", headers=[("Set-Cookie", "token=s3cr3t-cookie; Path=/; HttpOnly")])
    trace = tmp_path / "trace.txt"
    r = run("get", "-v", "-u", "alice:pa55word", "-b", "sid=abc123; lang=en",
            "--trace-ascii", str(trace), server.url("/c"))
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    basic = base64.b64encode(b"alice:pa55word").decode()
    assert "> Authorization: Basic [redacted]" in err
    assert "> Cookie: sid=[redacted]; lang=[redacted]" in err
    assert "< Set-Cookie: token=[redacted]; Path=/; HttpOnly" in err
    for secret in (basic, "pa55word", "abc123", "s3cr3t-cookie"):
        assert secret not in err
    text = trace.read_text()
    assert f"Authorization: Basic {basic}" in text and "Cookie: sid=abc123; lang=en" in text
    assert "Set-Cookie: token=s3cr3t-cookie" in text
    assert stat.S_IMODE(os.stat(trace).st_mode) == 0o600


def test_trace_ascii_holds_both_directions_with_bodies(server, tmp_path):
    server.route("/post", lambda h, rec: respond(h, 201, b"created: " + rec.body + b"\n"))
    trace = tmp_path / "t.txt"
    r = run("get", "-d", "name=value", "--trace-ascii", str(trace), server.url("/post"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"created: name=value\n"
    assert r.stderr == b""  # without -v nothing else is shown
    lines = trace.read_text().splitlines()
    assert any(re.fullmatch(r"=> Send header, \d+ bytes \(0x[0-9a-f]+\)", l) for l in lines)
    assert "=> Send data, 10 bytes (0xa)" in lines
    assert "0000: name=value" in lines
    assert "0000: POST /post HTTP/1.1" in lines
    assert "0000: HTTP/1.1 201 Created" in lines
    assert any(l.startswith("<= Recv data, 20 bytes") for l in lines)
    assert "0000: created: name=value." in lines  # the newline as '.', like curl
    assert any(l.startswith("== Info: ") for l in lines)
    # Offsets continue after each CR LF: the line after the request line starts at its length.
    i = lines.index("0000: POST /post HTTP/1.1")
    assert lines[i + 1].startswith(f"{len('POST /post HTTP/1.1') + 2:04x}: Host: ")


def test_trace_ascii_unwritable_file_fails_before_fetching(server, tmp_path):
    server.static("/x", b"x")
    r = run("get", "--trace-ascii", str(tmp_path / "no" / "such" / "dir"), server.url("/x"))
    assert r.returncode == 3
    assert b"trace" in r.stderr
    assert server.requests == []


def test_quiet_and_verbose_exclude_each_other(server):
    r = run("get", "-q", "-v", server.url("/x"))
    assert r.returncode == 2


def test_verbose_shows_ftp_commands_with_the_password_redacted():
    ftp = FtpServer({"f.txt": b"ftp data\n"})
    try:
        url = ftp.url("f.txt").replace("ftp://", "ftp://bob:hunter2@")
        r = run("get", "-v", url)
    finally:
        ftp.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ftp data\n"
    assert "USER bob" in sent(r.stderr) and "PASS [redacted]" in sent(r.stderr)
    assert "RETR f.txt" in sent(r.stderr) and "226 done" in received(r.stderr)
    assert b"hunter2" not in r.stderr
