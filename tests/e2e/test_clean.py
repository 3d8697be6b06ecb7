"""nettool clean: urlcleanup. Removes exactly what retrieve saved into the temp area."""
import os
import signal
import stat

import pytest

from conftest import json_lines, nettool_argv, run
from download_helpers import DownloadServer, Resource


@pytest.fixture
def server():
    s = DownloadServer()
    yield s
    s.close()


@pytest.fixture
def area(tmp_path):
    return tmp_path / "area"


@pytest.fixture
def env(area):
    return {**os.environ, "NETTOOL_TMPDIR": str(area)}


def retrieve(url, env):
    r = run("retrieve", url, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().rstrip("\n")


def test_clean_removes_what_retrieve_saved(server, area, env):
    url = server.add("/page.html", Resource(b"<html>hello</html>\n"))
    path = retrieve(url, env)
    assert os.path.dirname(path) == str(area)
    assert stat.S_IMODE(area.stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = retrieve(url, env)
    assert second != path

    listed = run("clean", "--list", env=env)
    assert listed.returncode == 0
    assert path.encode() in listed.stdout and url.encode() in listed.stdout
    assert os.path.exists(path)

    dry = run("clean", "--dry-run", env=env)
    assert dry.returncode == 0
    assert f"would remove {path}\n".encode() in dry.stdout
    assert os.path.exists(path)

    r = run("clean", env=env)
    assert r.returncode == 0, r.stderr
    assert f"removed {path}\n".encode() in r.stdout
    assert f"removed {second}\n".encode() in r.stdout
    assert r.stdout.endswith(b"freed 38 B in 2 files\n")
    assert not os.path.exists(path) and not os.path.exists(second)

    again = run("clean", env=env)
    assert again.returncode == 0
    assert again.stdout == b""
    assert again.stderr == f"nettool: note: nothing to clean in {area}\n".encode()
    quiet = run("clean", "-q", env=env)
    assert quiet.returncode == 0 and quiet.stdout == b"" and quiet.stderr == b""


def test_clean_never_created_area_is_nothing_to_clean(area, env):
    r = run("clean", env=env)
    assert r.returncode == 0
    assert not area.exists()


def test_clean_leaves_a_replaced_file_and_a_symlink_alone(server, tmp_path, area, env):
    url = server.add("/a.txt", Resource(b"from the server"))
    replaced = retrieve(url, env)
    linked = retrieve(url, env)
    os.unlink(replaced)
    with open(replaced, "wb") as f:
        f.write(b"the user's own file")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not nettool's")
    os.unlink(linked)
    os.symlink(outside, linked)

    r = run("clean", "--json", env=env)
    assert r.returncode == 0, r.stderr
    items = json_lines(r.stdout, only_json=True)
    by_path = {item["path"]: item for item in items}
    assert by_path[replaced]["event"] == "skipped"
    assert "another file" in by_path[replaced]["reason"]
    assert by_path[linked]["event"] == "skipped"
    assert "symbolic link" in by_path[linked]["reason"]
    assert all(set(item) >= {"event", "path", "url", "bytes"} for item in items)
    assert open(replaced, "rb").read() == b"the user's own file"
    assert os.path.islink(linked)
    assert outside.read_bytes() == b"not nettool's"

    # Text output reports the skips on stderr.
    url2 = server.add("/b.txt", Resource(b"b"))
    third = retrieve(url2, env)
    os.unlink(third)
    os.symlink(outside, third)
    r = run("clean", env=env)
    assert r.returncode == 0
    assert f"nettool: note: skipped {third}: it is now a symbolic link; left alone".encode() in r.stderr
    assert outside.read_bytes() == b"not nettool's"


def test_clean_leaves_a_download_in_progress_alone(server, area, env, procs):
    url = server.add("/slow.bin", Resource(os.urandom(400_000), chunk=8192, chunk_delay=0.03))
    proc = procs(nettool_argv("retrieve", "--progress", "json", url), env=env)
    while proc.wait_event("progress")["bytes"] == 0:
        pass
    parts = [name for name in os.listdir(area) if name.endswith(".part")]
    assert len(parts) == 1
    part = area / parts[0]

    r = run("clean", env=env)
    assert r.returncode == 0, r.stderr
    assert b"a download is still in progress (pid " in r.stderr
    assert b"removed" not in r.stdout
    assert part.exists()

    proc.signal(signal.SIGINT)
    assert proc.wait() == 130
    assert part.exists()  # kept: the download was interrupted
    r = run("clean", env=env)
    assert r.returncode == 0, r.stderr
    assert f"removed {part}\n".encode() in r.stdout
    assert not part.exists()
    assert not os.path.exists(str(part) + ".meta")


def test_older_than_keeps_recent_downloads(server, area, env):
    url = server.add("/n.txt", Resource(b"new"))
    path = retrieve(url, env)
    r = run("clean", "--older-than", "1h", env=env)
    assert r.returncode == 0
    assert os.path.exists(path)
    r = run("clean", "--older-than", "0s", env=env)
    assert f"removed {path}".encode() in r.stdout
    bad = run("clean", "--older-than", "soon", env=env)
    assert bad.returncode == 2
    assert b"bad duration" in bad.stderr


def test_an_unsafe_area_is_refused(tmp_path):
    area = tmp_path / "shared"
    area.mkdir()
    os.chmod(area, 0o777)
    r = run("clean", env={**os.environ, "NETTOOL_TMPDIR": str(area)})
    assert r.returncode == 3
    assert r.stderr.decode() == (f"nettool: error: temp area {area} is not safe: mode 0777, not 0700; "
                                 "remove it or set NETTOOL_TMPDIR\n")

