"""nettool clean: urlcleanup. Removes exactly what retrieve saved into the temp area."""
import json
import os
import signal
import stat
import subprocess

import pytest

from conftest import DEADLINE, NETTOOL, json_lines, nettool_argv, run
from download_helpers import Resource, area, env, server  # noqa: F401 (fixtures)


REGISTRY_FILES = {".registry.jsonl", ".registry.lock"}


def registry_entries(area):
    path = area / ".registry.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def leftovers(area):
    """Everything in the area but the registry and its lock."""
    return set(os.listdir(area)) - REGISTRY_FILES


def unaccounted(area):
    """Files in the area that no registry entry accounts for: clean could never remove them."""
    recorded = set()
    for entry in registry_entries(area):
        name = entry.get("name") or os.path.basename(entry["path"])
        recorded |= {name, name + ".part", name + ".part.meta"}
    return leftovers(area) - recorded


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

    # Interrupted, a temp-area download (which nothing can continue) removes its own .part and
    # forgets its entry.
    proc.signal(signal.SIGINT)
    assert proc.wait() == 130
    assert not part.exists()
    assert leftovers(area) == set()
    assert registry_entries(area) == []

    # Killed, it cannot: its .part and sidecar stay, recorded, and clean removes them.
    proc = procs(nettool_argv("retrieve", "--progress", "json", url), env=env)
    while proc.wait_event("progress")["bytes"] == 0:
        pass
    proc.signal(signal.SIGKILL)
    proc.wait()
    parts = [name for name in os.listdir(area) if name.endswith(".part")]
    assert len(parts) == 1 and os.path.exists(area / (parts[0] + ".meta"))
    assert unaccounted(area) == set()
    r = run("clean", env=env)
    assert r.returncode == 0, r.stderr
    assert f"removed {area / parts[0]}\n".encode() in r.stdout
    assert leftovers(area) == set()


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


def forged(key, value, victim):
    st = os.stat(victim)
    return json.dumps({key: value, "device": st.st_dev, "inode": st.st_ino, "birth_ns": 0,
                       "url": "http://forged/", "time": 0, "state": "complete", "pid": 1}) + "\n"


def test_forged_registry_entries_delete_nothing_outside_the_area(server, tmp_path, area, env):
    url = server.add("/own.txt", Resource(b"nettool's own"))
    own = retrieve(url, env)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (area / "sub").mkdir()
    inner = area / "sub" / "inner.txt"
    inner.write_bytes(b"in a subdirectory")
    registry = area / ".registry.jsonl"
    # Entries with the real identity of files outside the area (or in a subdirectory), and
    # lines that are no entries at all (an empty name names nothing).
    lines = [forged("path", str(victim), victim),
             forged("path", f"{area}/../victim.txt", victim),
             forged("name", "../victim.txt", victim),
             forged("name", "sub/inner.txt", inner),
             forged("name", "", victim),
             "{not json at all\n",
             "\x1b]0;title\x07 garbage\n"]
    with open(registry, "a") as f:
        f.writelines(lines)
    before = registry.read_bytes()

    r = run("clean", "--dry-run", env=env)
    assert r.returncode == 0, r.stderr
    assert b"warning: 3 lines of the registry" in r.stderr
    assert registry.read_bytes() == before
    # Under --json the warning is an event on clean's JSON stream, and stderr stays empty.
    r = run("clean", "--dry-run", "--json", env=env)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    warnings = [e for e in json_lines(r.stdout) if e["event"] == "warning"]
    assert len(warnings) == 1 and "3 lines of the registry" in warnings[0]["message"]
    assert registry.read_bytes() == before

    r = run("clean", env=env)
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert victim.read_bytes() == b"precious"
    assert inner.read_bytes() == b"in a subdirectory"
    assert not os.path.exists(own)
    assert f"removed {own}\n".encode() in r.stdout
    assert err.count("does not name a file directly inside the temp area") == 4, err
    assert "nettool: warning: the registry " in err and "had 3 damaged lines" in err
    asides = [name for name in os.listdir(area) if name.startswith(".registry.jsonl.damaged-")]
    assert len(asides) == 1
    assert (area / asides[0]).read_bytes() == before  # kept whole, for the user to look at
    assert f"set aside as {area / asides[0]}" in err
    assert registry_entries(area) == []
    assert unaccounted(area) == {"sub", asides[0]}  # never ours: clean leaves them alone


def test_a_sidecar_is_removed_only_when_it_is_the_downloads(server, tmp_path, area, env, procs):
    url = server.add("/slow.bin", Resource(os.urandom(400_000), chunk=8192, chunk_delay=0.03))
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"outside")
    parts = []
    for _ in range(2):
        proc = procs(nettool_argv("retrieve", "--progress", "json", url), env=env)
        while proc.wait_event("progress")["bytes"] == 0:
            pass
        proc.signal(signal.SIGKILL)
        proc.wait()
        parts = sorted(name for name in os.listdir(area) if name.endswith(".part"))
    assert len(parts) == 2
    linked, foreign = (area / (p + ".meta") for p in parts)
    os.unlink(linked)
    os.symlink(outside, linked)
    meta = json.loads(foreign.read_text())
    meta["inode"] += 1  # a sidecar that describes some other file
    foreign.write_text(json.dumps(meta))
    r = run("clean", env=env)
    assert r.returncode == 0, r.stderr
    assert outside.read_bytes() == b"outside"
    assert os.path.islink(linked)
    assert foreign.exists()
    assert f"skipped {linked}: it is a symbolic link; left alone".encode() in r.stderr
    assert f"skipped {foreign}: it belongs to another download; left alone".encode() in r.stderr
    assert not any(name.endswith(".part") for name in os.listdir(area))


@pytest.mark.parametrize("spelling", ["{}", "{}/", "{}//", "{}/."])
def test_a_symlinked_area_is_refused_however_it_is_written(server, tmp_path, spelling):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    os.symlink(real, link)
    env = {**os.environ, "NETTOOL_TMPDIR": spelling.format(link)}
    url = server.add("/x.txt", Resource(b"x"))
    for args in (["retrieve", url], ["clean"]):
        r = run(*args, env=env)
        assert r.returncode == 3, (args, r.stderr)
        assert b"is not safe: it is a symbolic link" in r.stderr
    assert os.listdir(real) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a symlink to another user")
def test_a_symlink_another_user_owns_on_the_way_is_refused(server, tmp_path):
    (tmp_path / "real").mkdir()
    link = tmp_path / "theirs"
    os.symlink(tmp_path / "real", link)
    os.lchown(link, 65534, 65534)
    env = {**os.environ, "NETTOOL_TMPDIR": f"{link}/area"}
    r = run("retrieve", server.add("/x.txt", Resource(b"x")), env=env)
    assert r.returncode == 3
    assert (f"is not safe: {link} is a symbolic link owned by uid 65534".encode() in r.stderr)
    assert not (tmp_path / "real" / "area").exists()


def test_a_download_over_the_file_size_limit_leaves_nothing_behind(server, area, env):
    url = server.add("/big.bin", Resource(os.urandom(300_000)))
    retrieve(server.add("/small.txt", Resource(b"small")), env)  # the registry exists
    r = subprocess.run(["prlimit", "--fsize=65536", "--", NETTOOL, "retrieve", "--retry", "0",
                        url], env=env, capture_output=True, timeout=DEADLINE)
    assert r.returncode == 3, r.stderr
    assert b"file too large" in r.stderr
    assert not any(name.startswith("big-") for name in os.listdir(area))
    assert unaccounted(area) == set()
    assert [e["url"] for e in registry_entries(area)] == [server.add("/small.txt", Resource(b"small"))]


def test_a_full_temp_area_leaves_nothing_clean_cannot_see(server, tmp_path):
    area = tmp_path / "small"
    area.mkdir(mode=0o700)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(area)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        env = {**os.environ, "NETTOOL_TMPDIR": str(area)}
        url = server.add("/huge.bin", Resource(os.urandom(3 * 1024 * 1024)))
        r = run("retrieve", "--retry", "0", url, env=env)
        assert r.returncode == 3, r.stderr
        assert b"no space left on device" in r.stderr
        assert leftovers(area) == set()
        assert registry_entries(area) == []
        # Fill the area to the brim: recording a download then fails, and leaves nothing.
        with open(area / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        r = run("retrieve", "--retry", "0", server.add("/t.txt", Resource(b"t" * 5000)), env=env)
        assert r.returncode == 3, r.stderr
        assert leftovers(area) == {"filler"}
        assert unaccounted(area) == {"filler"}
    finally:
        subprocess.run(["umount", str(area)], check=False)
