"""nettool retrieve's write path: --no-sync, digests computed beside the writer, resumes that
verify, preallocation that never makes a .part look complete, a full disk."""
import hashlib
import os
import shutil
import subprocess

import pytest

from conftest import DEADLINE, NETTOOL, json_lines, run
from download_helpers import (  # noqa: F401 (area, env, server: fixtures)
    RawServer, Resource, area, env, server)

MIB = 1024 * 1024
# Several writer buffers long, and not a multiple of a page: the last write is a short one.
BODY = os.urandom(5 * MIB + 12_345)


def traced(tmp_path, env, *args):
    """Runs nettool under strace, recording the sync and rename calls; None without strace."""
    if shutil.which("strace") is None:
        return None, None
    log = tmp_path / "strace.log"
    # LeakSanitizer (the sanitizer build) cannot run under ptrace; the other checks still do.
    asan = env.get("ASAN_OPTIONS", "")
    env = {**env, "ASAN_OPTIONS": f"{asan}:detect_leaks=0" if asan else "detect_leaks=0"}
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e",
                        "trace=fsync,fdatasync,rename,renameat,renameat2", NETTOOL, *args],
                       env=env, capture_output=True, timeout=DEADLINE)
    return r, log.read_text()


def test_no_sync_skips_the_fsyncs_but_still_renames_the_part(server, tmp_path, env):
    url = server.add("/n.bin", Resource(BODY))
    target = tmp_path / "n.bin"
    r, calls = traced(tmp_path, env, "retrieve", "--no-sync", url, str(target))
    if r is None:
        pytest.skip("strace is not installed")
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == BODY
    assert not (tmp_path / "n.bin.part").exists()
    assert not (tmp_path / "n.bin.part.meta").exists()
    assert "n.bin.part" in calls and "RENAME_NOREPLACE" in calls, calls
    assert "fsync(" not in calls and "fdatasync(" not in calls, calls
    # The default syncs the file and its directory.
    default = tmp_path / "d.bin"
    r, calls = traced(tmp_path, env, "retrieve", url, str(default))
    assert r.returncode == 0, r.stderr
    assert default.read_bytes() == BODY
    assert calls.count("fsync(") >= 2, calls
    # --no-sync still refuses to replace a file that is there.
    r = run("retrieve", "--no-sync", url, str(target), env=env)
    assert r.returncode == 3
    assert b"already exists" in r.stderr


def test_digests_cover_every_byte_written(server, tmp_path, env):
    res = Resource(BODY)
    url = server.add("/h.bin", res)
    target = tmp_path / "h.bin"
    r = run("retrieve", "--json", "--checksum", f"md5:{hashlib.md5(BODY).hexdigest()}", url,
            str(target), env=env)
    assert r.returncode == 0, r.stderr
    [saved] = json_lines(r.stdout, only_json=True)
    assert saved["sha256"] == res.sha256
    assert saved["bytes"] == len(BODY)
    assert target.read_bytes() == BODY
    r = run("retrieve", "--checksum", f"sha256:{res.sha256}", url, str(tmp_path / "s.bin"),
            env=env)
    assert r.returncode == 0, r.stderr
    # To a non-regular file (no .part, written as it comes) the digest is the same.
    r = run("retrieve", "--json", url, "/dev/null", env=env)
    assert r.returncode == 0, r.stderr
    assert json_lines(r.stdout, only_json=True)[0]["sha256"] == res.sha256


def test_continue_with_checksum_hashes_the_bytes_already_saved(server, tmp_path, env):
    cut = 3 * MIB + 1001  # an odd offset: the resumed writes realign to pages
    res = Resource(BODY, drop_after=cut)
    url = server.add("/c.bin", res)
    good = hashlib.sha256(BODY).hexdigest()
    for name, corrupt, expected in (("ok.bin", False, 0), ("bad.bin", True, 9)):
        target = tmp_path / name
        r = run("retrieve", "--retry", "0", url, str(target), env=env)
        assert r.returncode == 4, r.stderr
        part = tmp_path / f"{name}.part"
        assert part.stat().st_size == cut
        if corrupt:  # a byte of the saved prefix changes: only re-reading it can tell
            with open(part, "r+b") as f:
                f.seek(1000)
                byte = f.read(1)
                f.seek(1000)
                f.write(bytes([byte[0] ^ 0xFF]))
        with server.lock:
            res.drop_after = None
        r = run("retrieve", "-c", "--checksum", f"sha256:{good}", url, str(target), env=env)
        assert r.returncode == expected, r.stderr
        seen = server.requests_for("/c.bin")[-1]["headers"]
        assert seen["range"] == f"bytes={cut}-"
        if expected == 0:
            assert target.read_bytes() == BODY
        else:
            assert b"checksum mismatch" in r.stderr
            assert not target.exists()
        with server.lock:
            res.drop_after = cut
            res.drops = 1


def lying_length(claimed, sent):
    def reply(head, n):
        return (b'HTTP/1.1 200 OK\r\nETag: "l"\r\nContent-Length: %d\r\n\r\n' % claimed
                + BODY[:sent], "close")
    return reply


def test_a_longer_content_length_never_leaves_a_part_that_looks_complete(tmp_path, env):
    raw = RawServer(lying_length(64 * MIB, 2 * MIB + 333))
    try:
        target = tmp_path / "l.bin"
        r = run("retrieve", "--retry", "0", raw.url(), str(target), env=env)
        assert r.returncode == 4, r.stderr
        assert not target.exists()
        part = tmp_path / "l.bin.part"
        st = part.stat()
        assert st.st_size == 2 * MIB + 333  # what arrived, not what was announced
        assert part.read_bytes() == BODY[:st.st_size]
        assert st.st_blocks * 512 < 16 * MIB  # the space reserved for 64 MiB went back
        # A resume asks for exactly the rest.
        r = run("retrieve", "--retry", "0", "-c", raw.url(), str(target), env=env)
        assert f"bytes={2 * MIB + 333}-" in raw.requests[-1]
    finally:
        raw.close()


def test_a_shorter_content_length_saves_what_it_announced(tmp_path, env):
    raw = RawServer(lying_length(MIB + 7, 3 * MIB))
    try:
        target = tmp_path / "s.bin"
        r = run("retrieve", "--retry", "0", "--json", raw.url(), str(target), env=env)
        assert r.returncode == 0, r.stderr
        assert target.read_bytes() == BODY[:MIB + 7]
        assert json_lines(r.stdout, only_json=True)[0]["bytes"] == MIB + 7
        assert not (tmp_path / "s.bin.part").exists()
    finally:
        raw.close()


def test_a_full_disk_keeps_the_part_and_exits_3(server, tmp_path, env):
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        url = server.add("/full.bin", Resource(BODY))
        for extra in ((), ("--no-sync",), ("--checksum", f"sha256:{'0' * 64}")):
            r = run("retrieve", "--retry", "0", *extra, url, str(small / "full.bin"), env=env)
            assert r.returncode == 3, (extra, r.stderr)
            assert b"no space left on device" in r.stderr
            assert not (small / "full.bin").exists()
            part = small / "full.bin.part"
            assert 0 < part.stat().st_size <= MIB
            assert part.read_bytes() == BODY[:part.stat().st_size]
            part.unlink()
            (small / "full.bin.part.meta").unlink()
    finally:
        subprocess.run(["umount", str(small)], check=False)
