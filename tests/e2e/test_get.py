"""nettool get: streams a URL to stdout, with the protocol policy, exit codes, auth and cookies
that nettool-get(1) documents — against Python's http.server in a thread of this process (127.0.0.1, port 0)."""
import base64
import gzip
import hashlib
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import DEADLINE, NETTOOL, SANITIZED, run
from download_helpers import RawServer
from ftp_helpers import FtpServer
from http_helpers import HttpServer, make_self_signed, respond


@pytest.fixture
def server():
    s = HttpServer()
    yield s
    s.close()


def err_line(r):
    text = r.stderr.decode()
    assert text.startswith("nettool: error: "), text
    assert len(text.strip().splitlines()) == 1, text
    return text.strip()


# --- streaming and schemes -------------------------------------------------------------------

def test_body_of_300k_is_byte_exact(server):
    body = random.Random(7).randbytes(300 * 1024)
    server.static("/blob", body)
    r = run("get", server.url("/blob"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == body
    assert r.stderr == b""


def test_file_url(tmp_path):
    path = tmp_path / "local.txt"
    path.write_bytes(b"from a file\n" * 100)
    r = run("get", f"file://{path}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == path.read_bytes()


def test_missing_file_url_exits_3(tmp_path):
    r = run("get", f"file://{tmp_path}/absent")
    assert r.returncode == 3
    assert "absent" in err_line(r)


def test_ftp_url():
    body = random.Random(3).randbytes(70_000)
    ftp = FtpServer({"pub/data.bin": body})
    try:
        r = run("get", ftp.url("pub/data.bin"))
        assert r.returncode == 0, r.stderr
        assert r.stdout == body
        assert ("RETR", "data.bin") in ftp.commands or ("RETR", "pub/data.bin") in ftp.commands
        r = run("get", ftp.url("pub/missing.bin"))
        assert r.returncode == 8
        assert r.stdout == b""
        assert "missing.bin" in err_line(r)
    finally:
        ftp.close()


def test_url_without_scheme_is_http(server):
    server.static("/plain", b"plain http\n")
    r = run("get", f"127.0.0.1:{server.port}/plain")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"plain http\n"


# --- status, redirects, protocol policy --------------------------------------------------------

def test_404_exits_8_with_empty_stdout(server):
    server.static("/gone", b"a body that must not be printed\n", status=404)
    r = run("get", server.url("/gone"))
    assert r.returncode == 8
    assert r.stdout == b""
    assert err_line(r) == f"nettool: error: HTTP 404 Not Found: {server.url('/gone')}"


def test_ignore_status_prints_the_error_body_and_exits_0(server):
    server.static("/gone", b"error page\n", status=404)
    r = run("get", "--ignore-status", server.url("/gone"))
    assert r.returncode == 0
    assert r.stdout == b"error page\n"


def test_redirect_chain_is_followed(server):
    server.redirect("/a", "/b", 301)
    server.redirect("/b", server.url("/c"), 307)
    server.redirect("/c", "/final", 308)
    server.static("/final", b"arrived\n")
    r = run("get", server.url("/a"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"arrived\n"
    assert [q.path for q in server.requests] == ["/a", "/b", "/c", "/final"]


def test_a_password_never_shows_after_a_redirect_or_in_a_url(server, tmp_path):
    # libcurl's effective URL after a redirect carries the -u credentials.
    server.redirect("/r", "/missing")
    r = run("get", "-v", "-u", "alice:s3cret-pw", server.url("/r"))
    assert r.returncode == 8
    assert b"s3cret-pw" not in r.stderr and b"s3cret-pw" not in r.stdout, r.stderr
    assert b"HTTP 404" in r.stderr
    typed = server.url("/missing").replace("http://", "http://bob:t0ps3cret@")
    r = run("get", typed)
    assert r.returncode == 8 and b"t0ps3cret" not in r.stderr, r.stderr
    assert b"http://bob@127.0.0.1" in r.stderr
    r = run("retrieve", "--json", "-u", "alice:s3cret-pw", server.url("/r"),
            str(tmp_path / "f"))
    assert r.returncode == 8
    assert b"s3cret-pw" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_verbose_notes_and_quiet(server):
    server.redirect("/v", "/w")
    server.static("/w", b"12345")
    r = run("get", "-v", server.url("/v"))
    assert r.returncode == 0 and r.stdout == b"12345"
    err = r.stderr.decode()
    assert "nettool: note: HTTP/1.1 302 Found -> /w" in err
    assert f"nettool: note: HTTP/1.1 200 OK from {server.url('/w')}" in err
    assert "nettool: note: 5 bytes, 1 redirect(s)" in err
    r = run("get", "-q", server.url("/v"))
    assert r.returncode == 0 and r.stderr == b""


def test_redirect_loop_exits_7(server):
    server.redirect("/loop", "/loop")
    r = run("get", server.url("/loop"))
    assert r.returncode == 7
    assert r.stdout == b""
    assert "more than 10 redirects" in err_line(r)
    assert len(server.requests) == 11


def test_max_redirs_and_no_follow(server):
    server.redirect("/one", "/two")
    server.redirect("/two", "/end")
    server.static("/end", b"end\n")
    r = run("get", "--max-redirs", "1", server.url("/one"))
    assert r.returncode == 7
    assert "more than 1 redirects" in err_line(r)
    r = run("get", "--max-redirs", "2", server.url("/one"))
    assert r.returncode == 0 and r.stdout == b"end\n"
    r = run("get", "--no-follow", "-i", server.url("/one"))
    assert r.returncode == 0
    assert r.stdout.startswith(b"HTTP/1.1 302 Found\r\n")
    assert b"Location: /two\r\n" in r.stdout and r.stdout.endswith(b"moved\n")


def test_redirect_to_file_url_is_refused(server, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"local secret\n")
    server.redirect("/evil", f"file://{secret}")
    r = run("get", server.url("/evil"))
    assert r.returncode == 7
    assert r.stdout == b""
    line = err_line(r)
    assert line.startswith(f"nettool: error: {server.url('/evil')}: refused to follow the redirect to 'file://{secret}'")
    assert "only to http and https" in line


def test_refused_connection_exits_4():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run("get", f"http://127.0.0.1:{port}/")
    assert r.returncode == 4
    assert "connection refused" in err_line(r)


@pytest.mark.parametrize("url", ["http://[::1", "http://exa mple.com/", "htp:/x", "", "http://"])
def test_malformed_url_exits_2(url):
    r = run("get", url)
    assert r.returncode == 2
    line = err_line(r)
    assert "URL" in line
    if url:
        assert repr(url)[1:-1] in line or url in line


# --- large bodies stream -----------------------------------------------------------------------

def _stream_handler(block, count, done):
    def handler(h, r):
        h.send_response(200)
        h.send_header("Content-Length", str(len(block) * count))
        h.end_headers()
        for _ in range(count):
            h.wfile.write(block)
        done.append(True)
    return handler


def test_large_body_streams_in_bounded_memory(server):
    block = bytes(range(256)) * 4096  # 1 MiB, generated once
    count = 32 if SANITIZED else 400
    done = []
    server.route("/big", _stream_handler(block, count, done))
    argv = ["/usr/bin/time", "-f", "%M", NETTOOL, "get", server.url("/big")]
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr
    assert done == [True]
    peak_kib = int(r.stderr.decode().strip().splitlines()[-1])
    if not SANITIZED:
        assert peak_kib < 32 * 1024, f"peak RSS {peak_kib} KiB for a 400 MiB body"


def test_closed_reader_stops_quietly(server):
    block = b"y" * (1 << 20)
    server.route("/big", _stream_handler(block, 64, []))
    p = subprocess.Popen([NETTOOL, "get", server.url("/big")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout.read(10) == b"y" * 10
    p.stdout.close()  # what `| head -c 10` does
    assert p.wait(timeout=DEADLINE) == 0
    assert p.stderr.read() == b""
    p.stderr.close()


# --- auth and cookies --------------------------------------------------------------------------

def _basic_protected(user, password):
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def handler(h, r):
        if r.headers.get("Authorization") == expected:
            respond(h, 200, b"welcome\n")
        else:
            respond(h, 401, b"who are you?\n", [("WWW-Authenticate", 'Basic realm="test"')])
    return handler


def test_basic_auth_right_and_wrong(server):
    server.route("/private", _basic_protected("alice", "s3cret"))
    r = run("get", "-u", "alice:s3cret", server.url("/private"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"welcome\n"
    r = run("get", "-u", "alice:wrong", server.url("/private"))
    assert r.returncode == 6
    assert r.stdout == b""
    assert "HTTP 401 Unauthorized" in err_line(r) and "credentials were refused" in err_line(r)
    # Without credentials a 401 is just an error response.
    r = run("get", server.url("/private"))
    assert r.returncode == 8


def test_user_without_password_and_no_terminal_sends_empty_password(server):
    server.route("/private", _basic_protected("bob", ""))
    r = run("get", "-u", "bob", server.url("/private"), start_new_session=True)
    assert r.returncode == 0, r.stderr
    assert "empty password" in r.stderr.decode()


def test_password_is_asked_on_the_terminal_without_echo(server):
    import pty
    server.route("/private", _basic_protected("erin", "typed-pw"))
    pid, master = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        try:
            os.execv(NETTOOL, [NETTOOL, "get", "-u", "erin", server.url("/private")])
        finally:
            os._exit(127)  # never return into pytest
    output = b""
    status = None

    def read_some(end):
        ready, _, _ = select.select([master], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            return None
        try:
            return os.read(master, 1024)
        except OSError:  # EIO: the child closed the terminal
            return b""

    try:
        end = time.monotonic() + DEADLINE
        while b"Password for 'erin': " not in output and time.monotonic() < end:
            chunk = read_some(end)
            if not chunk:
                break
            output += chunk
        assert b"Password for 'erin': " in output, output
        os.write(master, b"typed-pw\n")
        while time.monotonic() < end:
            chunk = read_some(end)
            if not chunk:
                break
            output += chunk
    finally:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        give_up = time.monotonic() + DEADLINE
        while reaped == 0 and time.monotonic() < give_up:  # exiting: wait for it, bounded
            time.sleep(0.01)
            reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == 0:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert b"welcome" in output
    assert b"typed-pw" not in output  # echo was off


def test_netrc_file(server, tmp_path):
    server.route("/private", _basic_protected("carol", "pw"))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login carol password pw\n")
    r = run("get", "--netrc-file", str(netrc), server.url("/private"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"welcome\n"


def test_bearer_token_is_sent(server):
    server.route("/api", lambda h, r: respond(
        h, 200 if r.headers.get("Authorization") == "Bearer tok123" else 401, b"ok\n"))
    r = run("get", "--bearer", "tok123", server.url("/api"))
    assert r.returncode == 0, r.stderr
    assert server.requests[-1].headers.get("Authorization") == "Bearer tok123"


def _digest_protected(user, password, realm="nettool-test"):
    nonce = "abc123nonce"

    def handler(h, r):
        auth = r.headers.get("Authorization") or ""
        if auth.startswith("Digest "):
            fields = dict(re.findall(r'(\w+)="?([^",]+)"?', auth[7:]))
            ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
            ha2 = hashlib.md5(f"{r.method}:{fields.get('uri')}".encode()).hexdigest()
            want = hashlib.md5(f"{ha1}:{nonce}:{fields.get('nc')}:{fields.get('cnonce')}:"
                               f"{fields.get('qop')}:{ha2}".encode()).hexdigest()
            if fields.get("username") == user and fields.get("response") == want:
                respond(h, 200, b"digest ok\n")
                return
        respond(h, 401, b"", [("WWW-Authenticate",
                               f'Digest realm="{realm}", nonce="{nonce}", qop="auth", algorithm=MD5')])
    return handler


def test_digest_auth(server):
    server.route("/digest", _digest_protected("dave", "pw"))
    r = run("get", "-u", "dave:pw", "--auth", "digest", server.url("/digest"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"digest ok\n"
    r = run("get", "-u", "dave:bad", "--auth", "any", server.url("/digest"))
    assert r.returncode == 6


def test_cookie_jar_then_cookie_file(server, tmp_path):
    server.static("/login", b"logged in\n", headers=[("Set-Cookie", "session=abc42; Path=/")])
    server.route("/check", lambda h, r: respond(h, 200, (r.headers.get("Cookie") or "none").encode()))
    jar = tmp_path / "jar.txt"
    r = run("get", "-c", str(jar), server.url("/login"))
    assert r.returncode == 0, r.stderr
    assert "session\tabc42" in jar.read_text()
    r = run("get", "-b", str(jar), server.url("/check"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"session=abc42"
    assert server.requests[-1].headers.get("Cookie") == "session=abc42"


def test_cookie_string_is_sent(server):
    server.static("/c", b"ok")
    r = run("get", "-b", "k=v; k2=v2", server.url("/c"))
    assert r.returncode == 0
    assert server.requests[-1].headers.get("Cookie") == "k=v; k2=v2"


# --- request shape and output forms ------------------------------------------------------------

def test_include_head_and_dump_header(server, tmp_path):
    server.static("/h", b"body\n", headers=[("X-Test", "one")])
    r = run("get", "-i", server.url("/h"))
    assert r.returncode == 0
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"X-Test: one" in head
    assert body == b"body\n"
    r = run("get", "-I", server.url("/h"))
    assert r.returncode == 0
    assert server.requests[-1].method == "HEAD"
    assert r.stdout.startswith(b"HTTP/1.1 200 OK\r\n") and r.stdout.endswith(b"\r\n\r\n")
    dump = tmp_path / "headers"
    r = run("get", "-D", str(dump), server.url("/h"))
    assert r.returncode == 0
    assert r.stdout == b"body\n"
    assert dump.read_bytes().startswith(b"HTTP/1.1 200 OK\r\n") and b"X-Test: one\r\n" in dump.read_bytes()


def test_headers_method_and_body_reach_the_server(server, tmp_path):
    server.route("/echo", lambda h, r: respond(h, 201, r.body))
    r = run("get", "-X", "PUT", "-H", "X-One: 1", "-H", "X-Two: 2", "-A", "agent/9", "-d", "a=1", "-d", "b=2",
            server.url("/echo"))
    assert r.returncode == 0, r.stderr
    q = server.requests[-1]
    assert (q.method, q.body) == ("PUT", b"a=1&b=2")
    assert q.headers.get("X-One") == "1" and q.headers.get("X-Two") == "2"
    assert q.headers.get("User-Agent") == "agent/9"
    assert r.stdout == b"a=1&b=2"
    payload = bytes(range(256)) * 100
    (tmp_path / "payload").write_bytes(payload)
    r = run("get", "--data-binary", f"@{tmp_path / 'payload'}", server.url("/echo"))
    assert r.returncode == 0, r.stderr
    assert (server.requests[-1].method, server.requests[-1].body) == ("POST", payload)
    r = run("get", "--data-binary", "@-", server.url("/echo"), input=b"from stdin")
    assert server.requests[-1].body == b"from stdin"


def test_bad_header_is_usage_error():
    r = run("get", "-H", "no-colon", "http://127.0.0.1:1/")
    assert r.returncode == 2
    assert "Name: value" in err_line(r)


def test_gzip_response_is_decoded(server):
    text = b"compressible " * 5000

    def handler(h, r):
        if "gzip" in (r.headers.get("Accept-Encoding") or ""):
            respond(h, 200, gzip.compress(text), [("Content-Encoding", "gzip")])
        else:
            respond(h, 200, text)
    server.route("/gz", handler)
    r = run("get", server.url("/gz"))
    assert r.returncode == 0
    assert "gzip" in server.requests[-1].headers.get("Accept-Encoding")
    assert r.stdout == text


# Replies libcurl refuses are the server's fault: exit 7 ("protocol"), whatever code libcurl
# used for them (out of memory for a 300 KB header line, a receive error for bad chunking, a
# malformed URL for a bad Location), and a reset stays a network error (4).
@pytest.mark.parametrize("what,reply,code", [
    ("a 300 KB header line",
     b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300_000 + b"\r\nContent-Length: 2\r\n\r\nok", 7),
    ("a bad chunk size",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzzz\r\nxx\r\n", 7),
    ("a malformed Location",
     b"HTTP/1.1 301 Moved\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n", 7),
    ("a reset mid-body",
     b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"r" * 1000, 4),
], ids=["huge-header", "bad-chunk", "bad-location", "reset"])
def test_exit_code_follows_the_cause_not_the_message(what, reply, code):
    raw = RawServer(lambda head, n: (reply, "reset" if code == 4 else "close"))
    try:
        r = run("get", raw.url())
        assert r.returncode == code, (what, r.stderr)
        line = err_line(r)
        if what == "a malformed Location":
            assert line.endswith("the server redirected to 'http://[::1', which is not a valid URL")
    finally:
        raw.close()


@pytest.mark.parametrize("proxy", ["http://[::1", "notascheme://x:1", "http://127.0.0.1:99999"])
def test_a_bad_proxy_is_a_usage_error_and_contacts_nothing(server, proxy):
    server.static("/p", b"direct")
    r = run("get", "--proxy", proxy, server.url("/p"))
    assert r.returncode == 2, r.stderr
    assert err_line(r).startswith(f"nettool: error: bad --proxy '{proxy}': ")
    assert server.requests == []


def test_proxy_from_environment(server):
    server.route("http://origin.invalid/via-proxy", lambda h, r: respond(h, 200, b"proxied\n"))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["http_proxy"] = server.url("")
    r = run("get", "http://origin.invalid/via-proxy", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"proxied\n"
    assert server.requests[-1].path == "http://origin.invalid/via-proxy"
    r = run("get", "--proxy", server.url(""), "http://origin.invalid/via-proxy")
    assert r.returncode == 0, r.stderr


# --- retries -----------------------------------------------------------------------------------

def test_retry_on_503_until_success(server):
    state = {"n": 0}

    def flaky(h, r):
        state["n"] += 1
        if state["n"] <= 2:
            respond(h, 503, b"busy\n", [("Retry-After", "0")])
        else:
            respond(h, 200, b"finally\n")
    server.route("/flaky", flaky)
    r = run("get", "--retry", "2", server.url("/flaky"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"finally\n"
    assert state["n"] == 3
    assert r.stderr.decode().count("retrying in") == 2


def test_no_retry_by_default_and_not_for_404(server):
    server.static("/busy", b"", status=503)
    r = run("get", server.url("/busy"))
    assert r.returncode == 8 and len(server.requests) == 1
    server.static("/gone", b"", status=404)
    r = run("get", "--retry", "3", server.url("/gone"))
    assert r.returncode == 8 and len(server.requests) == 2


# --- TLS, timeouts, interruption ---------------------------------------------------------------

def test_tls_verification(tmp_path):
    cert, key = make_self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    s = HttpServer(ssl_context=context)
    try:
        s.static("/secure", b"over tls\n")
        r = run("get", s.url("/secure"))
        assert r.returncode == 5
        assert "certificate" in err_line(r) and "--cacert" in err_line(r)
        r = run("get", "--cacert", cert, s.url("/secure"))
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"over tls\n"
        r = run("get", "-k", s.url("/secure"))
        assert r.returncode == 0, r.stderr
        r = run("get", "--cacert", str(tmp_path / "absent.pem"), s.url("/secure"))
        assert r.returncode == 3
        assert "absent.pem" in err_line(r)
    finally:
        s.close()


def test_timeout_exits_4():
    with socket.socket() as listener:  # accepts in the kernel, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        start = time.monotonic()
        r = run("get", "--timeout", "300ms", f"http://127.0.0.1:{port}/")
        assert time.monotonic() - start < DEADLINE / 2
    assert r.returncode == 4
    assert "timed out" in err_line(r)


def test_sigint_mid_transfer_exits_130(server):
    release = threading.Event()

    def stall(h, r):
        h.send_response(200)
        h.send_header("Content-Length", "1000000")
        h.end_headers()
        h.wfile.write(b"x" * 1000)
        h.wfile.flush()
        release.wait(DEADLINE)
    server.route("/stall", stall)
    p = subprocess.Popen([NETTOOL, "get", server.url("/stall")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        assert p.stdout.read(1000) == b"x" * 1000  # the transfer is under way
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=DEADLINE) == 130
    finally:
        release.set()
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
