"""No byte from a server, a peer or the file system drives the terminal: a hostile HTTP server
(a raw socket on 127.0.0.1, port 0) puts ESC, BEL, a raw 0x9b (CSI), U+009B and invalid UTF-8
into its reason phrase, headers, Location and Content-Disposition, and every human line nettool
writes (get, get -v, retrieve with and without -O, errors, retries, --progress bar|line|json)
must reach stderr without one byte 0x1b, 0x07 or 0x80-0x9f. Each test also checks that the
hostile text did reach the output, escaped, so that none of them can pass by printing nothing.
Also: serve's lines about a Unix peer, clean's lines from a forged registry, JSON output."""
import json
import os
import socket
import subprocess
import threading

import pytest

from conftest import DEADLINE, NETTOOL, json_lines, run
from serve_helpers import start_serve

# Every kind of hostile text, as raw bytes: OSC "set title" ended by BEL, a raw C1 CSI, a
# UTF-8 encoded U+009B, a bidi override, bytes that are not UTF-8.
HOSTILE = b"\x1b]0;pwned\x07 \x9b31m \xc2\x9b2J \xe2\x80\xaeevil \xff\xfe\xc3("
# How the escaped text shows (escape_for_terminal): a fragment that must appear.
SHOWN = "\\x1b]0;pwned\\x07 \\x9b31m \\u009b2J \\u202eevil \\xff\\xfe\\xc3("


def inert(data):
    """The bytes a terminal would act on: C0 except nettool's own newline, tab (clean --list's
    columns) and carriage return (the bar), DEL, and every byte in 0x80-0x9f (raw C1, and the
    second byte of a UTF-8 encoded C1)."""
    return [hex(b) for b in data if (b < 0x20 and b not in (0x09, 0x0a, 0x0d)) or b == 0x7f
            or 0x80 <= b <= 0x9f]


class HostileServer:
    """Answers each request by its path with a response written byte by byte as given."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            conn.settimeout(DEADLINE)
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            path = head.split(b" ", 2)[1].decode("latin-1")
            with self.lock:
                self.hits[path] = self.hits.get(path, 0) + 1
                count = self.hits[path]
            conn.sendall(self.response(path, count))

    def response(self, path, count):
        body = b"hostile body\n"
        evil_name = b"\x1b]0;t\x07" + b"evil\x9b\xc2\x9b.txt"
        if path == "/ok":
            return (b"HTTP/1.1 200 " + HOSTILE + b"\r\nContent-Length: " + str(len(body)).encode()
                    + b"\r\nX-Evil: " + HOSTILE + b"\r\nContent-Disposition: attachment; filename=\""
                    + evil_name + b"\"\r\nConnection: close\r\n\r\n" + body)
        if path == "/missing":
            return (b"HTTP/1.1 404 " + HOSTILE + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        if path == "/flaky" and count == 1:
            return (b"HTTP/1.1 503 " + HOSTILE + b"\r\nRetry-After: 0\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n")
        if path == "/flaky":
            return self.response("/ok", count)
        if path == "/redirect":
            return (b"HTTP/1.1 302 " + HOSTILE + b"\r\nLocation: /ok"
                    b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        if path == "/bad-location":
            return (b"HTTP/1.1 302 Found\r\nLocation: /ok?" + HOSTILE
                    + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return b"HTTP/1.1 500 x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def close(self):
        self.sock.close()


@pytest.fixture
def hostile():
    server = HostileServer()
    yield server
    server.close()


@pytest.fixture
def env(tmp_path):
    area = tmp_path / "area"
    return dict(os.environ, NETTOOL_TMPDIR=str(area))


def assert_inert_and_shown(stderr, shown=SHOWN):
    assert inert(stderr) == [], stderr
    assert shown in stderr.decode("ascii"), stderr  # the text was printed, escaped


def test_self_inert_finds_every_kind_of_hostile_byte():
    assert len(inert(HOSTILE)) == 5  # ESC, BEL, 0x9b, the 0x9b of U+009B, the 0x80 of U+202E
    assert inert(SHOWN.encode()) == []


def test_get_error_line_escapes_the_reason_phrase(hostile):
    r = run("get", hostile.url("/missing"))
    assert r.returncode == 8
    assert_inert_and_shown(r.stderr)


def test_get_verbose_escapes_status_lines_and_location(hostile):
    r = run("get", "-v", hostile.url("/redirect"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hostile body\n"
    assert_inert_and_shown(r.stderr)
    assert "-> /ok\n" in r.stderr.decode("ascii")  # the Location


def test_get_unparseable_location_fails_with_an_inert_line(hostile):
    r = run("get", "-v", hostile.url("/bad-location"))
    assert r.returncode not in (0, 1), r.stderr  # a protocol or usage error, said in one line
    assert inert(r.stderr) == [], r.stderr
    # -v shows the headers exchanged before it (each line "> " or "< "); the error ends it.
    *trace, last = r.stderr.splitlines()
    assert last.startswith(b"nettool: error: ")
    assert all(line[:2] in (b"> ", b"< ") for line in trace), trace


def test_get_retry_warning_escapes_the_reason_phrase(hostile):
    r = run("get", "--retry", "1", hostile.url("/flaky"))
    assert r.returncode == 0, r.stderr
    assert_inert_and_shown(r.stderr)


@pytest.mark.parametrize("how", ["file", "remote-name", "temp-area"])
def test_retrieve_lines_are_inert(hostile, tmp_path, env, how):
    args = {"file": [hostile.url("/flaky"), str(tmp_path / "out.txt")],
            "remote-name": ["-O", "--output-dir", str(tmp_path), hostile.url("/flaky")],
            "temp-area": [hostile.url("/flaky")]}[how]
    r = run("retrieve", "-v", *args, env=env)
    assert r.returncode == 0, r.stderr
    assert_inert_and_shown(r.stderr)  # the retry warning carries the 503's reason
    saved = r.stdout.decode().strip()
    assert inert(r.stdout) == [] and open(saved, "rb").read() == b"hostile body\n"
    if how == "remote-name":
        assert os.path.dirname(saved) == str(tmp_path)  # a safe name: no control characters


def test_retrieve_error_line_escapes_the_reason_phrase(hostile, tmp_path, env):
    r = run("retrieve", hostile.url("/missing"), str(tmp_path / "x"), env=env)
    assert r.returncode == 8
    assert_inert_and_shown(r.stderr)


@pytest.mark.parametrize("style", ["bar", "line", "json"])
def test_retrieve_progress_output_is_inert(hostile, tmp_path, env, style):
    target = tmp_path / ("\x1bname\x07\udc9b.txt" if style != "json" else "name.txt")
    r = run("retrieve", "--progress", style, hostile.url("/flaky"), os.fsencode(target), env=env)
    assert r.returncode == 0, r.stderr
    assert_inert_and_shown(r.stderr)
    if style == "json":
        events = json_lines(r.stderr)
        assert events and events[-1]["event"] == "progress" and events[-1]["done"] is True
        assert events[-1]["path"] == str(target)
    else:
        assert b"\\x1bname\\x07\\x9b.txt" in r.stderr  # the file name, from the file system


def test_retrieve_json_output_has_no_raw_control_bytes(hostile, tmp_path, env):
    r = run("retrieve", "--json", hostile.url("/ok"), str(tmp_path / "j.txt"), env=env)
    assert r.returncode == 0, r.stderr
    assert all(32 <= b < 127 for b in r.stdout.rstrip(b"\n")), r.stdout  # ASCII only
    [saved] = json_lines(r.stdout, only_json=True)
    # The header arrives intact as text; bytes that are not UTF-8 become U+FFFD.
    assert saved["headers"]["X-Evil"].startswith("\x1b]0;pwned\x07 ")
    assert "\ufffd" in saved["headers"]["X-Evil"]


def test_json_error_object_has_no_raw_control_bytes(hostile, tmp_path, env):
    r = run("retrieve", "--json", hostile.url("/missing"), str(tmp_path / "e.txt"), env=env)
    assert r.returncode == 8
    assert all(32 <= b < 127 for b in r.stdout.rstrip(b"\n")), r.stdout
    [error] = json_lines(r.stdout, only_json=True)
    assert error["event"] == "error" and error["exit"] == 8
    assert "\x1b]0;pwned\x07" in error["message"]
    assert_inert_and_shown(r.stderr)  # and the human line on stderr is escaped


def test_serve_lines_about_a_unix_listener_and_peer_are_inert(procs, tmp_path):
    # A raw 0x9b byte (not UTF-8) in the name, as a file system allows.
    path = os.fsencode(tmp_path) + b"/s\x1b]0;x\x07\x9b\xc2\x9b.sock"
    proc = procs([NETTOOL, "serve", "-v", "--greet", b"unix:" + path])
    listening = proc.read_stderr_line()
    assert "s\\x1b]0;x\\x07\\x9b\\u009b.sock" in listening
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(os.fsencode(tmp_path / "peer\x1b[2J.sock"))
        s.settimeout(DEADLINE)
        s.connect(path)
        s.recv(100)
    assert proc.wait() == 0
    err = ("\n".join(proc.stderr_lines) + proc.rest_of_stderr()).encode("utf-8", "surrogateescape")
    assert inert(err) == [], err
    assert b"connection from" in err


def test_serve_json_unix_peer_path_is_ascii_json(procs, tmp_path):
    path = tmp_path / "j.sock"
    proc, events = start_serve(procs, "--greet", f"unix:{path}")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(os.fsencode(tmp_path / "peer\x1b[2J\x9b.sock"))
        s.settimeout(DEADLINE)
        s.connect(str(path))
        s.recv(100)
    conn = proc.wait_event("connection")
    assert conn["peer"]["path"].startswith(str(tmp_path / "peer\x1b[2J"))
    assert proc.wait() == 0


def test_clean_lines_from_a_forged_registry_are_inert(tmp_path):
    area = tmp_path / "area"
    area.mkdir(mode=0o700)
    name = "forged\x1b]0;x\x07\x9b"
    (area / name).write_bytes(b"data")
    st = os.stat(area / name)
    entry = {"path": str(area / name), "device": st.st_dev, "inode": st.st_ino, "birth_ns": 0,
             "url": "http://h/\x1b[2J\x9b", "time": 0, "state": "complete", "pid": 0}
    (area / ".registry.jsonl").write_text(json.dumps(entry) + "\n")
    env = dict(os.environ, NETTOOL_TMPDIR=str(area))
    listed = run("clean", "--list", "-v", env=env)
    removed = run("clean", "-v", env=env)
    for r in (listed, removed):
        assert r.returncode == 0, r.stderr
        assert inert(r.stdout) == [] and inert(r.stderr) == [], (r.stdout, r.stderr)
        assert b"forged\\x1b]0;x\\x07\\u009b" in r.stdout + r.stderr, (r.stdout, r.stderr)


def test_error_lines_escape_names_from_the_command_line_and_file_system(tmp_path):
    missing = tmp_path / "no\x1b[2Jdir" / "f"
    r = subprocess.run([NETTOOL, "retrieve", "http://127.0.0.1:1/", os.fsencode(missing)],
                       capture_output=True, timeout=DEADLINE)
    assert r.returncode == 3
    assert inert(r.stderr) == [] and b"no\\x1b[2Jdir" in r.stderr
