"""retrieve --split N: one file over several connections with range requests. Against nginx
(per-connection limit_rate: splitting must pay; unlimited: it must not add connections that
do not help), and against a Python server that cannot do ranges, lies about them, drops
connections or changes the file half-way."""
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import DEADLINE, NETTOOL, run
from connect_helpers import free_port
from download_helpers import wait_for
from nginx_helpers import NGINX, needs_nginx, running_nginx

MIB = 1024 * 1024

NGINX_CONFIG = """
events {{ worker_connections 256; }}
http {{
    log_format split '$connection "$http_range" "$http_if_range" $status $body_bytes_sent';
    access_log {d}/access.log split;
    {temp_paths}
    server {{ listen 127.0.0.1:{limited}; root {d}/www; limit_rate 4m; }}
    server {{ listen 127.0.0.1:{slow}; root {d}/www; limit_rate 1m; }}
    server {{ listen 127.0.0.1:{unlimited}; root {d}/www; }}
}}
"""


class Nginx:
    def __init__(self, d, ports):
        self.d = d
        self.ports = ports

    def url(self, which, name):
        return f"http://127.0.0.1:{self.ports[which]}/{name}"

    def log(self):
        """The access log's lines so far: (connection, range, if_range, status, bytes)."""
        lines = []
        for line in (self.d / "access.log").read_text().splitlines():
            m = re.match(r'(\d+) "([^"]*)" "([^"]*)" (\d+) (\d+)$', line)
            assert m, line
            # nginx writes an absent header as "-".
            lines.append((int(m[1]), "" if m[2] == "-" else m[2], "" if m[3] == "-" else m[3],
                          int(m[4]), int(m[5])))
        return lines

    def clear_log(self):
        (self.d / "access.log").write_text("")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    """nginx with three servers over one docroot: limit_rate 4m and 1m per connection, and
    unlimited. Stopped by pid."""
    if NGINX is None:
        pytest.skip("needs nginx (Debian package nginx)")
    d = tmp_path_factory.mktemp("nginx")
    (d / "www").mkdir()
    (d / "www" / "big.bin").write_bytes(os.urandom(12 * MIB))
    (d / "www" / "huge.bin").write_bytes(os.urandom(32 * MIB))
    (d / "www" / "mid.bin").write_bytes(os.urandom(4 * MIB))
    ports = {"limited": free_port(), "slow": free_port(), "unlimited": free_port()}
    with running_nginx(d, NGINX_CONFIG, ports):
        yield Nginx(d, ports)


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def retrieve(*args, **kwargs):
    return run("retrieve", *args, **kwargs)


@needs_nginx
def test_split_beats_one_connection_when_each_connection_is_limited(nginx, tmp_path):
    expected = sha256_of(nginx.d / "www" / "big.bin")
    url = nginx.url("limited", "big.bin")
    t0 = time.monotonic()
    r = retrieve(url, str(tmp_path / "one"))
    one = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    nginx.clear_log()
    t0 = time.monotonic()
    r = retrieve("--split", "8", url, str(tmp_path / "split"))
    split = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{tmp_path / 'split'}\n".encode()
    assert sha256_of(tmp_path / "split") == sha256_of(tmp_path / "one") == expected
    assert not os.path.exists(tmp_path / "split.part")
    assert not os.path.exists(tmp_path / "split.part.meta")
    log = nginx.log()
    ranged = [entry for entry in log if entry[1]]
    # Ranges were asked for with If-Range and answered 206.
    assert len(ranged) >= 3, log
    assert all(entry[2] and entry[3] == 206 for entry in ranged), log
    assert split < one / 2, (split, one)


@needs_nginx
def test_split_adds_no_connections_that_do_not_raise_the_rate(nginx, tmp_path):
    # Unlimited on loopback, one connection is as fast as several: at most one more is tried.
    nginx.clear_log()
    r = retrieve("--split", "8", nginx.url("unlimited", "huge.bin"), str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    assert sha256_of(tmp_path / "f") == sha256_of(nginx.d / "www" / "huge.bin")
    assert len(nginx.log()) <= 3, nginx.log()


@needs_nginx
def test_limit_rate_caps_the_total_of_every_connection(nginx, tmp_path):
    t0 = time.monotonic()
    r = retrieve("--split", "8", "--limit-rate", "2M", nginx.url("unlimited", "mid.bin"),
                 str(tmp_path / "f"))
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert sha256_of(tmp_path / "f") == sha256_of(nginx.d / "www" / "mid.bin")
    # 4 MiB at 2 MiB/s in total: about 2 s, whatever the number of connections.
    assert 1.6 < elapsed < 3.5, elapsed


@needs_nginx
def test_sigint_keeps_the_part_and_continue_resumes_every_segment(nginx, tmp_path):
    url = nginx.url("slow", "big.bin")
    out = tmp_path / "f"
    part = tmp_path / "f.part"
    length = 12 * MIB
    p = subprocess.Popen([NETTOOL, "retrieve", "--split", "4", url, str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The .part's size is its highest byte written: past half, a later segment is running.
        wait_for(lambda: part.exists() and part.stat().st_size > length // 2, DEADLINE,
                 "a segment past the middle")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=DEADLINE)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert not out.exists() and part.exists()
    meta = json.loads((tmp_path / "f.part.meta").read_text())
    assert meta["version"] == 2 and meta["content_length"] == length
    unfinished = [s for s in meta["segments"] if s[2] < s[1] - s[0]]
    assert len(meta["segments"]) >= 2 and unfinished, meta
    # The same .part under the name -O gives (a hard link: the sidecar's identity holds): the
    # download in order, which trusts a .part's size, refuses a segmented one.
    os.link(part, tmp_path / "big.bin.part")
    shutil.copy(tmp_path / "f.part.meta", tmp_path / "big.bin.part.meta")
    r = retrieve("-c", "-O", "--output-dir", str(tmp_path), url)
    assert r.returncode == 3 and b"saved in segments" in r.stderr, r.stderr
    os.unlink(tmp_path / "big.bin.part")
    os.unlink(tmp_path / "big.bin.part.meta")
    nginx.clear_log()
    r = retrieve("-c", "--split", "4", nginx.url("unlimited", "big.bin"), str(out))
    # The sidecar names the slow server's URL: another URL is refused.
    assert r.returncode == 3 and b"not of" in r.stderr, r.stderr
    r = retrieve("-c", "--split", "4", url, str(out))
    assert r.returncode == 0, r.stderr
    assert sha256_of(out) == sha256_of(nginx.d / "www" / "big.bin")
    log = nginx.log()
    asked = {entry[1] for entry in log}
    for start, end, done in unfinished:
        # Each unfinished segment's rest was asked for (it may have been split again).
        assert any(a.startswith(f"bytes={start + done}-") for a in asked), (asked, unfinished)
    # nginx writes a line once it notices a closed connection, so the interrupted run's first
    # GET (no Range) may be logged after the log was cleared: only the ranges are this run's.
    ranges = [entry for entry in log if entry[1]]
    assert ranges and all(entry[2] for entry in ranges), ("every range carries If-Range", log)
    assert not any(entry[3] == 200 and entry[4] == length for entry in log), (
        "nothing was fetched whole again", log)
    assert not part.exists() and not (tmp_path / "f.part.meta").exists()


# A Python server for what nginx will not do: no ranges, lies, drops, changes.
class SplitServer:
    def __init__(self, body, mode="honest"):
        self.body = body
        self.mode = mode
        self.version = 0
        self.etag = '"v0"'
        self.requests = []
        self.answered_whole = []  # per request: every byte of its answer was sent
        self.dropped = {}  # first byte -> last byte of each range cut short
        self.drops_left = 2
        self.next_send = 0.0  # "shared": when the next piece of any answer may go
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.answer(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/f"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, h):
        rng = h.headers.get("Range")
        with self.lock:
            self.requests.append((rng, h.headers.get("If-Range")))
            self.answered_whole.append(False)
            number = len(self.requests) - 1
            if self.mode == "changes" and len(self.requests) == 2:
                # The file changes on the server once its first answer is out.
                self.body = bytes(reversed(self.body))
                self.etag = '"v1"'
            body, etag = self.body, self.etag
        first, last = 0, len(body) - 1
        ranged = False
        if rng and self.mode != "no_ranges":
            m = re.match(r"bytes=(\d+)-(\d*)$", rng)
            if_range = h.headers.get("If-Range")
            if m and (if_range is None or if_range == etag):
                first = int(m[1])
                last = int(m[2]) if m[2] else len(body) - 1
                ranged = True
        piece = body[first:last + 1]
        if self.mode == "shared_distant":
            time.sleep(0.4)  # every answer is slow to start: round trips, a handshake
        h.send_response(206 if ranged else 200)
        h.send_header("ETag", etag)
        if self.mode != "no_ranges":
            h.send_header("Accept-Ranges", "bytes")
        if ranged:
            shown_first = first + 1 if self.mode == "wrong_range" else first
            shown_last = last + 1 if self.mode == "wrong_range" else last
            total = first if self.mode == "out_of_bounds" else len(body)
            h.send_header("Content-Range", f"bytes {shown_first}-{shown_last}/{total}")
        if ranged and self.mode == "longer":
            piece += b"\0" * 100  # more bytes than the range holds
        h.send_header("Content-Length", str(len(piece)))
        h.end_headers()
        limit = len(piece)
        with self.lock:
            if self.mode == "drop_once" and ranged and self.drops_left > 0:
                # Two ranges' answers stop half-way: the retries must resume them.
                self.drops_left -= 1
                self.dropped[first] = last
                limit = len(piece) // 2
        try:
            for at in range(0, limit, 65536):
                if self.mode in ("shared", "shared_distant"):
                    # One rate for all connections together (a full link): 64 KiB every
                    # 20 ms, however many connections ask.
                    with self.lock:
                        now = time.monotonic()
                        slot = max(self.next_send, now)
                        self.next_send = slot + 0.02
                    time.sleep(slot - now)
                h.wfile.write(piece[at:min(limit, at + 65536)])
                if self.mode not in ("shared", "shared_distant"):
                    # Slow enough that the client measures more than one connection.
                    time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
            return
        with self.lock:
            self.answered_whole[number] = limit == len(piece)
        if limit < len(piece):
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def split_server():
    servers = []

    def make(body, mode="honest"):
        server = SplitServer(body, mode)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_a_server_without_ranges_is_read_over_one_connection_with_a_note(split_server,
                                                                          tmp_path):
    body = os.urandom(4 * MIB)
    server = split_server(body, "no_ranges")
    r = retrieve("--split", "4", server.url, str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f").read_bytes() == body
    assert b"cannot be split" in r.stderr and b"Accept-Ranges" in r.stderr
    assert all(rng is None for rng, _ in server.requests)
    r = retrieve("-q", "--split", "4", server.url, str(tmp_path / "g"))
    assert r.returncode == 0 and r.stderr == b"", r.stderr


def test_a_dropped_segment_is_resumed_where_it_stopped(split_server, tmp_path):
    body = os.urandom(8 * MIB)
    server = split_server(body, "drop_once")
    r = retrieve("--split", "4", "--retry", "5", server.url, str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f").read_bytes() == body
    ranges = [rng for rng, _ in server.requests if rng]
    assert len(server.dropped) == 2, server.requests
    asked = [int(re.match(r"bytes=(\d+)-", rng)[1]) for rng in ranges]
    for first, last in server.dropped.items():
        # Each dropped range is asked for again from where its bytes stopped, not its start.
        assert any(first < a <= last for a in asked), (ranges, server.dropped)
    assert len(asked) == len(set(asked)), "no range asked for twice from the same byte"
    assert b"retry" in r.stderr.lower(), r.stderr


def split_8_from_a_shared_link(split_server, tmp_path, mode, size):
    """`--split 8` of `size` random bytes from a server whose connections share one rate
    (mode "shared" or "shared_distant"): the file must come out whole. Returns the server."""
    body = os.urandom(size)
    server = split_server(body, mode)
    r = retrieve("--split", "8", server.url, str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f").read_bytes() == body
    return server


def test_a_connection_that_adds_nothing_is_taken_away_and_its_segment_finished_by_one(
        split_server, tmp_path):
    server = split_8_from_a_shared_link(split_server, tmp_path, "shared", 5 * MIB)
    # The first request, the second connection's upper half (tried, then ended: the total
    # did not rise), and the rest of that half once the first connection is done with its
    # own: here a new connection's first byte comes far sooner than the first connection
    # would take to run through what the second had saved.
    assert len(server.requests) == 3, server.requests
    assert server.requests[0][0] is None
    tried = re.match(r"bytes=(\d+)-(\d+)$", server.requests[1][0])
    rest = re.match(r"bytes=(\d+)-(\d+)$", server.requests[2][0])
    assert tried and rest, server.requests
    assert int(tried[1]) < int(rest[1]) <= int(tried[2]) == int(rest[2]), server.requests


def test_where_a_new_connection_is_slow_to_answer_the_ended_ones_segment_is_given_back(
        split_server, tmp_path):
    server = split_8_from_a_shared_link(split_server, tmp_path, "shared_distant", 8 * MIB)
    # Every answer starts 0.4 s after its request (a distant server: round trips, a
    # handshake), longer than the first connection takes to run through what the tried one
    # saved in its window (about 0.1 s). So the tried connection is ended (it adds nothing to
    # the shared rate), and the first request's answer runs on to the end of the file,
    # skipping the bytes already on disk (none missing: the file is whole). Nothing is asked
    # for again.
    assert len(server.requests) == 2, server.requests
    assert server.requests[0][0] is None
    tried = re.match(r"bytes=(\d+)-(\d+)$", server.requests[1][0])
    assert tried and int(tried[2]) == 8 * MIB - 1, server.requests
    assert server.answered_whole == [True, False], (server.requests, server.answered_whole)


@pytest.mark.parametrize("lie", ["wrong_range", "out_of_bounds", "longer"])
def test_a_range_answer_that_does_not_match_the_request_is_a_protocol_error(split_server,
                                                                             tmp_path, lie):
    server = split_server(os.urandom(8 * MIB), lie)
    r = retrieve("--split", "4", server.url, str(tmp_path / "f"))
    assert r.returncode == 7, r.stderr
    assert b"Content-Range" in r.stderr
    assert not (tmp_path / "f").exists()


def test_a_file_that_changes_between_segments_starts_over(split_server, tmp_path):
    body = os.urandom(8 * MIB)
    server = split_server(body, "changes")
    r = retrieve("--split", "4", server.url, str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    assert b"changed on the server" in r.stderr and b"starting over" in r.stderr
    assert (tmp_path / "f").read_bytes() == bytes(reversed(body))


def test_split_checks_the_checksum_and_reports_sha256(split_server, tmp_path):
    body = os.urandom(6 * MIB)
    server = split_server(body)
    digest = hashlib.sha256(body).hexdigest()
    r = retrieve("--split", "4", "--json", "--checksum", f"sha256:{digest}", server.url,
                 str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sha256"] == digest
    r = retrieve("--split", "4", "--checksum", "sha256:" + "0" * 64, server.url,
                 str(tmp_path / "g"))
    assert r.returncode == 9, r.stderr
    assert not (tmp_path / "g").exists() and not (tmp_path / "g.part").exists()


@pytest.mark.parametrize("args, words", [
    (["--split", "0"], b"from 1 to 16"),
    (["--split", "17"], b"from 1 to 16"),
    (["--split", "many"], b"from 1 to 16"),
    (["--split", "2", "-"], b"standard output"),
    (["--split", "2"], b"needs FILE"),
    (["--split", "2", "-i", "list"], b"--split"),
])
def test_bad_split_requests_are_usage_errors(args, words):
    url_args = [] if "-i" in args else ["http://127.0.0.1:9/f"]
    # FILE (when the case has one) follows the URL.
    tail = [a for a in args if a == "-"]
    head = [a for a in args if a != "-"]
    r = retrieve(*head, *url_args, *tail)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr
    assert r.stderr.count(b"\n") == 1


def test_split_into_a_missing_directory_fails_before_any_request(split_server, tmp_path):
    server = split_server(b"x" * 1000)
    r = retrieve("--split", "4", server.url, str(tmp_path / "no" / "f"))
    assert r.returncode == 3, r.stderr
    assert server.requests == []
