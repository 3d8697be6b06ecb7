"""nettool retrieve: urlretrieve from a shell, against an HTTP server this test controls."""
import email.utils
import gzip
import hashlib
import json
import os
import select
import signal
import stat
import subprocess
import time

import pytest

from conftest import DEADLINE, NETTOOL, json_lines, nettool_argv, run
from download_helpers import (  # noqa: F401 (area, env, server: fixtures)
    RawServer, Resource, area, env, server)

BODY = os.urandom(300_000)
LAST_MODIFIED = 1_600_000_000  # 2020-09-13


def umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def all_files(root):
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def test_saves_the_exact_bytes_and_prints_the_file(server, tmp_path, env):
    url = server.add("/data.bin", Resource(BODY))
    target = tmp_path / "out.bin"
    r = run("retrieve", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{target}\n".encode()
    assert target.read_bytes() == BODY
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask()
    assert not (tmp_path / "out.bin.part").exists()
    assert not (tmp_path / "out.bin.part.meta").exists()


def test_without_file_it_saves_into_the_private_temp_area(server, tmp_path):
    url = server.add("/report.pdf", Resource(BODY))
    e = dict(os.environ)
    e.pop("NETTOOL_TMPDIR", None)
    e["TMPDIR"] = str(tmp_path)
    r = run("retrieve", url, env=e)
    assert r.returncode == 0, r.stderr
    path = r.stdout.decode().rstrip("\n")
    area = tmp_path / f"nettool-{os.geteuid()}"
    assert os.path.dirname(path) == str(area)
    assert path.endswith(".pdf")
    assert stat.S_IMODE(area.stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert open(path, "rb").read() == BODY
    assert json.loads((area / ".registry.jsonl").read_text().splitlines()[0])["path"] == path


def test_the_temp_area_is_checked(server, tmp_path):
    url = server.add("/x", Resource(b"x"))
    area = tmp_path / "area"
    area.mkdir(mode=0o755)
    os.chmod(area, 0o755)
    r = run("retrieve", url, env={**os.environ, "NETTOOL_TMPDIR": str(area)})
    assert r.returncode == 3
    assert (f"temp area {area} is not safe: mode 0755, not 0700; remove it or set NETTOOL_TMPDIR"
            in r.stderr.decode())


def test_content_disposition_cannot_escape_the_output_dir(server, tmp_path, env):
    url = server.add("/dl", Resource(b"#!/bin/sh\necho pwned\n",
                                     disposition='attachment; filename="../../evil.sh"'))
    out = tmp_path / "a" / "b" / "out"
    out.mkdir(parents=True)
    r = run("retrieve", "-O", "--output-dir", str(out), url, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{out}/evil.sh\n".encode()
    assert (out / "evil.sh").read_bytes() == b"#!/bin/sh\necho pwned\n"
    assert all_files(tmp_path) == {"a/b/out/evil.sh"}


def test_remote_name_comes_from_the_url_and_is_never_overwritten(server, tmp_path, env):
    url = server.add("/dir/name.txt", Resource(b"new"))
    (tmp_path / "name.txt").write_bytes(b"precious")
    r = run("retrieve", "-O", url, env=env, cwd=str(tmp_path))
    assert r.returncode == 3
    assert b"name.txt already exists; use --force to overwrite it" in r.stderr
    assert (tmp_path / "name.txt").read_bytes() == b"precious"
    assert not (tmp_path / "name.txt.part").exists()
    r = run("retrieve", "-O", "--force", url, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "name.txt").read_bytes() == b"new"


def test_a_small_download_is_made_only_when_complete_and_respects_an_earlier_part(
        server, tmp_path, env):
    """At most 256 KiB announced: no .part while it comes; a .part left before is refused."""
    url = server.add("/small.bin", Resource(b"s" * 1000))
    (tmp_path / "small.bin.part").write_bytes(b"earlier")
    r = run("retrieve", "-O", url, env=env, cwd=str(tmp_path))
    assert r.returncode == 3
    assert b"small.bin.part already exists (an interrupted download?)" in r.stderr
    assert (tmp_path / "small.bin.part").read_bytes() == b"earlier"
    assert all_files(tmp_path) == {"small.bin.part"}
    (tmp_path / "small.bin.part").unlink()
    r = run("retrieve", "-O", url, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert all_files(tmp_path) == {"small.bin"}
    assert stat.S_IMODE((tmp_path / "small.bin").stat().st_mode) == 0o666 & ~umask()


def test_an_existing_file_is_not_overwritten_without_force(server, tmp_path, env):
    url = server.add("/data.bin", Resource(BODY))
    target = tmp_path / "keep.bin"
    target.write_bytes(b"precious")
    r = run("retrieve", url, str(target), env=env)
    assert r.returncode == 3
    assert r.stderr.decode() == f"nettool: error: {target} already exists; use --force to overwrite it\n"
    assert target.read_bytes() == b"precious"
    assert len(server.requests_for("/data.bin")) == 0  # refused before any network
    r = run("retrieve", "--force", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == BODY


def test_a_dropped_connection_is_retried_with_a_range_request(server, tmp_path, env):
    res = Resource(BODY, drop_after=len(BODY) // 2)
    url = server.add("/big.bin", res)
    target = tmp_path / "big.bin"
    r = run("retrieve", "--retry", "3", "--json", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    [result] = json_lines(r.stdout, only_json=True)
    assert result["event"] == "saved"
    assert result["sha256"] == res.sha256
    assert result["bytes"] == len(BODY)
    assert result["path"] == str(target)
    assert result["url"] == url
    assert result["status"] == 206
    assert set(result) == {"event", "url", "path", "status", "headers", "bytes", "sha256",
                           "seconds"}
    assert target.read_bytes() == BODY
    seen = server.requests_for("/big.bin")
    assert len(seen) == 2
    assert "range" not in seen[0]["headers"]
    assert seen[1]["headers"]["range"] == f"bytes={len(BODY) // 2}-"
    assert seen[1]["headers"]["if-range"] == '"v1"'
    assert b"retrying" in r.stderr


def test_no_retry_leaves_the_part_for_continue(server, tmp_path, env):
    url = server.add("/big.bin", Resource(BODY, drop_after=1000))
    target = tmp_path / "big.bin"
    r = run("retrieve", "--retry", "0", url, str(target), env=env)
    assert r.returncode == 4, r.stderr
    assert not target.exists()
    assert (tmp_path / "big.bin.part").read_bytes() == BODY[:1000]
    r = run("retrieve", "-c", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == BODY


def start_slow(url, target, env, procs, extra=()):
    proc = procs(nettool_argv("retrieve", "--progress", "json", *extra, url, str(target)), env=env)
    # Readiness: a progress event with bytes on disk, read under a deadline.
    while True:
        event = proc.wait_event("progress")
        if event["bytes"] > 0:
            return proc


@pytest.mark.parametrize("changed", [False, True])
def test_sigint_keeps_the_part_and_continue_finishes_it(server, tmp_path, env, procs, changed):
    res = Resource(BODY, chunk=8192, chunk_delay=0.02)
    url = server.add("/slow.bin", res)
    target = tmp_path / "slow.bin"
    proc = start_slow(url, target, env, procs)
    proc.signal(signal.SIGINT)
    assert proc.wait() == 130
    assert not target.exists()
    part = tmp_path / "slow.bin.part"
    assert 0 < part.stat().st_size < len(BODY)
    assert BODY.startswith(part.read_bytes())
    size = part.stat().st_size
    new_body = os.urandom(200_000)
    with server.lock:
        res.chunk_delay = 0
        if changed:
            res.body = new_body
            res.etag = '"v2"'
    r = run("retrieve", "-c", "--json", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    last = server.requests_for("/slow.bin")[-1]["headers"]
    assert last["range"] == f"bytes={size}-"
    assert last["if-range"] == '"v1"'
    expected = new_body if changed else BODY
    assert target.read_bytes() == expected
    assert json_lines(r.stdout)[0]["sha256"] == hashlib.sha256(expected).hexdigest()
    assert not part.exists()
    if changed:
        assert b"starting over" in r.stderr
    else:
        assert json_lines(r.stdout)[0]["status"] == 206


def test_checksum_is_verified_before_the_rename(server, tmp_path, env):
    res = Resource(BODY)
    url = server.add("/c.bin", res)
    good = tmp_path / "good.bin"
    r = run("retrieve", "--checksum", f"sha256:{res.sha256.upper()}", url, str(good), env=env)
    assert r.returncode == 0, r.stderr
    assert good.read_bytes() == BODY
    md5 = tmp_path / "md5.bin"
    r = run("retrieve", "--checksum", f"md5:{hashlib.md5(BODY).hexdigest()}", url, str(md5), env=env)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.bin"
    wrong = "0" * 64
    r = run("retrieve", "--checksum", f"sha256:{wrong}", url, str(bad), env=env)
    assert r.returncode == 9
    assert (f"checksum mismatch for {url}: expected sha256 {wrong}, got {res.sha256}"
            in r.stderr.decode())
    assert not bad.exists()
    assert not (tmp_path / "bad.bin.part").exists()
    for spec in ("sha256", "sha256:xyz", "crc32:00", "sha1:" + "0" * 64):
        r = run("retrieve", "--checksum", spec, url, str(tmp_path / "u"), env=env)
        assert r.returncode == 2, spec
        assert b"bad checksum" in r.stderr


def test_timestamping_fetches_only_when_newer(server, tmp_path, env):
    url = server.add("/ts.txt", Resource(b"version 1\n", last_modified=LAST_MODIFIED))
    target = tmp_path / "ts.txt"
    r = run("retrieve", "-N", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == b"version 1\n"
    assert target.stat().st_mtime == LAST_MODIFIED
    inode = target.stat().st_ino
    r = run("retrieve", "-N", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{target}\n".encode()
    second = server.requests_for("/ts.txt")[-1]["headers"]
    sent = email.utils.parsedate_to_datetime(second["if-modified-since"]).timestamp()
    assert sent == LAST_MODIFIED
    assert target.read_bytes() == b"version 1\n"
    assert target.stat().st_mtime == LAST_MODIFIED
    assert target.stat().st_ino == inode  # untouched, not rewritten


def test_a_full_file_system_is_a_file_error_and_leaves_no_final_file(server, tmp_path, env):
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        url = server.add("/huge.bin", Resource(os.urandom(3 * 1024 * 1024)))
        r = run("retrieve", "--retry", "0", url, str(small / "huge.bin"), env=env)
        assert r.returncode == 3, r.stderr
        assert b"no space left on device" in r.stderr
        assert not (small / "huge.bin").exists()
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_http_errors_write_nothing(server, tmp_path, env):
    url = f"http://127.0.0.1:{server.port}/missing"
    r = run("retrieve", url, str(tmp_path / "m"), env=env)
    assert r.returncode == 8
    assert f"HTTP 404 Not Found: {url}".encode() in r.stderr
    assert all_files(tmp_path) == set()


def test_headers_follow_the_path(server, tmp_path, env):
    url = server.add("/h.txt", Resource(b"hi", disposition="inline"))
    r = run("retrieve", "--headers", url, str(tmp_path / "h.txt"), env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split("\r\n")
    assert lines[0] == f"{tmp_path}/h.txt\nHTTP/1.1 200 OK"
    assert "Content-Disposition: inline" in lines


def test_stdout_gets_only_the_data(server, tmp_path, env):
    url = server.add("/s.bin", Resource(BODY))
    r = run("retrieve", url, "-", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == BODY


def test_stdout_retry_fails_clearly_when_the_server_cannot_resume(server, tmp_path, env):
    url = server.add("/nr.bin", Resource(BODY, drop_after=100_000, ranges=False))
    r = run("retrieve", "--retry", "2", url, "-", env=env)
    assert r.returncode == 7, r.stderr
    assert b"the server cannot resume the transfer and sent it whole again" in r.stderr
    assert b"cannot start standard output over: 100000 bytes were already written" in r.stderr
    assert r.stdout == BODY[:100_000]  # nothing written twice
    seen = server.requests_for("/nr.bin")
    assert seen[1]["headers"]["range"] == "bytes=100000-"


def test_limit_rate_slows_the_transfer(server, tmp_path, env):
    # libcurl lets the first ~1.6 MB through at once, then holds the average to the limit.
    body = os.urandom(4_000_000)
    url = server.add("/r.bin", Resource(body))
    started = time.monotonic()
    r = run("retrieve", "--limit-rate", "2M", url, str(tmp_path / "r.bin"), env=env)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started >= 0.8  # unlimited, loopback takes well under 0.2 s
    assert (tmp_path / "r.bin").read_bytes() == body
    bad = run("retrieve", "--limit-rate", "fast", url, str(tmp_path / "x"), env=env)
    assert bad.returncode == 2


def test_usage_errors(server, tmp_path, env):
    url = server.add("/u", Resource(b"u"))
    for args, text in ((["-c", url], b"needs FILE or -O"),
                       (["-N", url], b"needs FILE or -O"),
                       (["-O", url, "f"], b"excludes"),
                       (["--output-dir", "d", url], b"requires"),
                       (["--progress", "fancy", url, "f"], b"fancy")):
        r = run("retrieve", *args, env=env, cwd=str(tmp_path))
        assert r.returncode == 2, args
        assert text in r.stderr, (args, r.stderr)


def test_progress_bar_on_a_terminal_and_silence_otherwise(server, tmp_path, env):
    url = server.add("/p.bin", Resource(BODY, chunk=16384, chunk_delay=0.01))
    master, slave = os.openpty()
    proc = subprocess.Popen([NETTOOL, "retrieve", url, str(tmp_path / "p.bin")], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=DEADLINE) == 0
    proc.stdout.close()
    text = seen.decode(errors="replace").replace("\r\n", "\n")  # the tty's ONLCR
    assert "p.bin" in text and "\r" in text
    assert "100%" in text.split("\r")[-1]
    assert text.endswith("\n")
    assert text.count("\r") >= 2  # redrawn while it ran

    # stderr to a file: no progress at all.
    with open(tmp_path / "err.txt", "wb") as err:
        r = subprocess.run([NETTOOL, "retrieve", url, str(tmp_path / "q.bin")], env=env,
                           stdout=subprocess.PIPE, stderr=err, timeout=DEADLINE)
    assert r.returncode == 0
    assert (tmp_path / "err.txt").read_bytes() == b""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# A gzip-capable server that drops the connection half-way: retrieve asks for the identity
# coding, so every retry resumes the very bytes on disk, and the file is the resource.
def test_a_gzip_server_dropping_half_way_yields_the_identity_bytes(server, tmp_path, env):
    body = b"compressible line of text\n" * 40_000  # 1 MiB, gzips well
    res = Resource(body, coding="when_asked", drop_after=len(body) // 2)
    url = server.add("/text.txt", res)
    target = tmp_path / "text.txt"
    r = run("retrieve", "--retry", "3", "--json", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert sha256(target.read_bytes()) == sha256(body)
    assert json.loads(r.stdout)["sha256"] == sha256(body)
    seen = server.requests_for("/text.txt")
    assert len(seen) == 2
    assert all(req["headers"]["accept-encoding"] == "identity" for req in seen)
    assert seen[1]["headers"]["range"] == f"bytes={len(body) // 2}-"
    assert b"retrying" in r.stderr
    # get still asks for compression and decodes it.
    got = run("get", url, env=env)
    assert got.returncode == 0 and got.stdout == body
    assert "gzip" in server.requests_for("/text.txt")[-1]["headers"]["accept-encoding"]


# A server that codes the body whatever it is asked: the bytes are saved as sent (the gzip
# stream), and resuming continues that same stream.
def test_a_body_coded_anyway_is_saved_as_sent_and_resumed(server, tmp_path, env):
    body = os.urandom(100_000) + b"z" * 400_000
    res = Resource(body, coding="always")
    res.drop_after = len(res.gzipped) // 2
    url = server.add("/coded.bin", res)
    target = tmp_path / "coded.bin.gz"
    r = run("retrieve", "--retry", "2", "--headers", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == res.gzipped
    assert gzip.decompress(target.read_bytes()) == body
    assert b"Content-Encoding: gzip" in r.stdout


def test_continue_refuses_a_part_of_another_url(server, tmp_path, env):
    a = Resource(BODY, drop_after=100_000)
    url_a = server.add("/a.bin", a)
    body_b = os.urandom(250_000)
    url_b = server.add("/b.bin", Resource(body_b, etag=None))
    target = tmp_path / "f.bin"
    r = run("retrieve", "--retry", "0", url_a, str(target), env=env)
    assert r.returncode == 4
    part = tmp_path / "f.bin.part"
    assert part.read_bytes() == BODY[:100_000]
    r = run("retrieve", "-c", url_b, str(target), env=env)
    assert r.returncode == 3, r.stderr
    assert r.stderr.decode() == (
        f"nettool: error: {part} holds the first 100000 bytes of {url_a}, not of {url_b}; resume "
        "it with that URL, or use --force to start over\n")
    assert part.read_bytes() == BODY[:100_000]
    assert server.requests_for("/b.bin") == []  # refused before any request
    assert not target.exists()
    # --force: start over with B. Never a mix of the two.
    r = run("retrieve", "-c", "--force", url_b, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == body_b
    assert b"starting over (--force)" in r.stderr
    # Without a sidecar nothing shows where the bytes came from: refused as well.
    (tmp_path / "g.bin.part").write_bytes(b"unknown origin")
    r = run("retrieve", "-c", url_b, str(tmp_path / "g.bin"), env=env)
    assert r.returncode == 3
    assert b"has no readable" in r.stderr and b"use --force to start over" in r.stderr


@pytest.mark.parametrize("how", ["no-validators", "ignores-if-range"])
def test_continue_over_a_changed_resource_never_mixes(server, tmp_path, env, how):
    old = os.urandom(300_000)
    res = Resource(old, drop_after=120_000)
    if how == "no-validators":
        res.etag = None  # nothing for If-Range: a same-length change would go unnoticed
    else:
        res.honor_if_range = False  # a server sending a range of whatever it has now
    url = server.add("/r.bin", res)
    target = tmp_path / "r.bin"
    r = run("retrieve", "--retry", "0", url, str(target), env=env)
    assert r.returncode == 4
    new = os.urandom(300_000 if how == "no-validators" else 310_000)
    with server.lock:
        res.body = new
        if how == "ignores-if-range":
            res.etag = '"v2"'
    r = run("retrieve", "-c", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == new
    assert b"starting over" in r.stderr
    if how == "no-validators":
        assert "range" not in server.requests_for("/r.bin")[-1]["headers"]
    else:
        assert b"its length is now 310000 bytes, not 300000" in r.stderr


def test_remote_name_continue_resumes_a_content_disposition_name(server, tmp_path, env):
    res = Resource(BODY, disposition='attachment; filename="report.bin"', drop_after=120_000)
    url = server.add("/download?id=7", res)
    r = run("retrieve", "-O", "--retry", "0", url, env=env, cwd=str(tmp_path))
    assert r.returncode == 4
    assert (tmp_path / "report.bin.part").read_bytes() == BODY[:120_000]
    r = run("retrieve", "-O", "-c", url, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"report.bin\n"
    assert (tmp_path / "report.bin").read_bytes() == BODY
    assert not (tmp_path / "report.bin.part").exists()
    last = server.requests_for("/download?id=7")[-1]["headers"]
    assert last["range"] == "bytes=120000-"
    assert last["if-range"] == '"v1"'


def raw_reply(text):
    return lambda head, n: (text, "close")


HOSTILE = {
    "a 300 KB header line": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300_000 + b"\r\n"
                            b"Content-Length: 2\r\n\r\nok",
    "350 KB of headers": b"HTTP/1.1 200 OK\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"a" * 50_000) for i in range(7)) + b"Content-Length: 2\r\n\r\nok",
    "a bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\nzzz\r\nxx\r\n0\r\n\r\n",
    "a malformed Location": b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\n"
                            b"Content-Length: 0\r\n\r\n",
    "a 206 to a request without a range": b"HTTP/1.1 206 Partial Content\r\n"
                                          b"Content-Range: bytes 500-999/1000\r\n"
                                          b"Content-Length: 500\r\n\r\n" + b"t" * 500,
    "a 206 whose ranges disagree": b"HTTP/1.1 206 Partial Content\r\n"
                                   b"Content-Range: bytes 0-99/1000\r\n"
                                   b"Content-Length: 900\r\n\r\n" + b"t" * 900,
    "no HTTP at all": b"\x00\x01garbage\r\n\r\n",
    "an impossible Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999"
                                    b"\r\n\r\nabc",
}


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_hostile_replies_are_protocol_errors(tmp_path, env, what):
    raw = RawServer(raw_reply(HOSTILE[what]))
    try:
        target = tmp_path / "out.bin"
        r = run("retrieve", "--retry", "2", raw.url(), str(target), env=env)
        assert r.returncode == 7, (what, r.stderr)
        assert not target.exists()
        assert len(raw.requests) == 1  # a protocol error is not retried
        r = run("retrieve", "--retry", "0", raw.url(), env=env)  # into the temp area
        assert r.returncode == 7, (what, r.stderr)
        area = tmp_path / "area"
        assert not area.exists() or set(os.listdir(area)) <= {".registry.jsonl", ".registry.lock"}
    finally:
        raw.close()


def test_a_short_body_or_a_reset_is_a_network_error_and_is_resumed(tmp_path, env):
    body = os.urandom(200_000)

    def reply(head, n):
        start = 0
        for line in head.split("\r\n"):
            if line.lower().startswith("range: bytes="):
                start = int(line.split("=")[1].rstrip("-"))
        if n == 0:  # claims 200000 bytes, sends 50000, then closes
            return (b'HTTP/1.1 200 OK\r\nETag: "x"\r\nContent-Length: 200000\r\n\r\n'
                    + body[:50_000], "close")
        if n == 1:  # a range, cut by a reset
            return (b'HTTP/1.1 206 Partial Content\r\nETag: "x"\r\nContent-Range: bytes %d-199999/'
                    b'200000\r\nContent-Length: %d\r\n\r\n' % (start, 200_000 - start)
                    + body[start:start + 30_000], "reset")
        return (b'HTTP/1.1 206 Partial Content\r\nETag: "x"\r\nContent-Range: bytes %d-199999/'
                b'200000\r\nContent-Length: %d\r\n\r\n' % (start, 200_000 - start)
                + body[start:], "close")

    raw = RawServer(reply)
    try:
        r = run("retrieve", "--retry", "0", raw.url(), str(tmp_path / "a.bin"), env=env)
        assert r.returncode == 4, r.stderr
        assert b"the transfer ended early" in r.stderr
        r = run("retrieve", "--retry", "3", raw.url(), str(tmp_path / "b.bin"), env=env)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "b.bin").read_bytes() == body
    finally:
        raw.close()


def test_many_urls_and_split_options_are_in_help():
    help_text = run("retrieve", "--help").stdout
    assert b"--jobs" in help_text and b"--input-file" in help_text
    assert b"--split N" in help_text and b"Segments:" in help_text
