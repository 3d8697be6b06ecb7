"""nettool retrieve -i LIST -j N: many downloads at once, each with the single-URL guarantees."""
import hashlib
import os
import signal
import subprocess
import time

import pytest

from conftest import DEADLINE, json_lines, nettool_argv, run
from connect_helpers import free_port
from download_helpers import (  # noqa: F401 (area, env, server: fixtures)
    Resource, area, env, server)
from nginx_helpers import needs_nginx, running_nginx

EXIT_PRIORITY = [130, 9, 3, 5, 6, 7, 4, 8, 2, 1]  # nettool-retrieve(1), MANY URLS


def worst(codes):
    return min(codes, key=EXIT_PRIORITY.index) if codes else 0


def write_list(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_a_mixed_list_saves_every_good_url_and_reports_each_failure(server, tmp_path, env):
    """200 good URLs, 5 that 404, 3 that drop mid-way once, 2 unresolvable hosts."""
    lines, good, dropped = [], {}, {}
    for i in range(200):
        body = os.urandom(2000 + i)
        url = server.add(f"/good{i}.bin", Resource(body))
        lines.append(f"{url} good{i}.bin")
        good[f"good{i}.bin"] = body
    for i in range(5):
        lines.append(f"http://127.0.0.1:{server.port}/missing{i}.bin missing{i}.bin")
    for i in range(3):
        body = os.urandom(100_000)
        url = server.add(f"/drop{i}.bin", Resource(body, drop_after=40_000, drops=1))
        lines.append(f"{url} drop{i}.bin")
        dropped[f"drop{i}.bin"] = body
    lines.append("http://no-such-host-1.invalid/x.bin x1.bin")
    lines.append("http://no-such-host-2.invalid/x.bin x2.bin")
    listed = write_list(tmp_path / "list.txt", lines)
    out = tmp_path / "out"
    out.mkdir()

    r = run("retrieve", "-j", "8", "--retry", "2", "-O", "--output-dir", str(out), "-i", listed,
            env=env)
    # 404 is 8, an unresolvable host 4: the network failure weighs more.
    assert r.returncode == worst([8, 4]) == 4, r.stderr
    printed = r.stdout.decode().splitlines()
    assert len(printed) == 203, r.stderr
    assert sorted(printed) == sorted(str(out / name) for name in [*good, *dropped])
    for name, body in {**good, **dropped}.items():
        assert (out / name).read_bytes() == body
    assert not list(out.glob("*.part")) and not list(out.glob("*.meta"))
    for i in range(3):
        seen = server.requests_for(f"/drop{i}.bin")
        assert len(seen) == 2
        assert seen[1]["headers"]["range"] == "bytes=40000-"
        assert seen[1]["headers"]["if-range"] == '"v1"'
    errors = r.stderr.decode()
    for i in range(5):
        assert f"list.txt:{201 + i}: HTTP 404" in errors
    assert "list.txt:209:" in errors and "list.txt:210:" in errors

    # --json: one object per URL, with its line, as each finishes.
    out2 = tmp_path / "out2"
    out2.mkdir()
    r = run("retrieve", "-j", "8", "--json", "-O", "--output-dir", str(out2), "-i", listed,
            env=env)
    assert r.returncode == 4
    objects = json_lines(r.stdout, only_json=True)
    assert len(objects) == 210
    by_line = {o["line"]: o for o in objects}
    assert sorted(by_line) == list(range(1, 211))
    for number in range(1, 201):
        saved = by_line[number]
        assert saved["event"] == "saved"
        assert saved["sha256"] == hashlib.sha256(good[f"good{number - 1}.bin"]).hexdigest()
    for number in range(201, 206):
        assert by_line[number]["event"] == "error" and by_line[number]["exit"] == 8
        assert by_line[number]["url"].endswith(f"/missing{number - 201}.bin")
    for number in (209, 210):
        assert by_line[number]["exit"] == 4


# 600 kB goes to a .part as it comes; 200 kB (at most 256 KiB announced) is held in memory
# and becomes a .part only when the download is kept. Either way about 4 s or 2.4 s each: all
# eight are still running at the signal.
@pytest.mark.parametrize("size,delay", [(600_000, 0.05), (200_000, 0.1)], ids=["large", "small"])
def test_sigint_keeps_every_part_and_continue_finishes_them_all(
        server, tmp_path, env, procs, size, delay):
    bodies, resources, lines = {}, {}, []
    for i in range(8):
        body = os.urandom(size)
        res = Resource(body, chunk=8192, chunk_delay=delay)
        url = server.add(f"/slow{i}.bin", res)
        lines.append(f"{url} slow{i}.bin")
        bodies[f"slow{i}.bin"], resources[i] = body, res
    listed = write_list(tmp_path / "list.txt", lines)
    out = tmp_path / "out"
    out.mkdir()
    argv = ["retrieve", "-j", "8", "-O", "--output-dir", str(out), "-i", listed]
    proc = procs(nettool_argv(*argv, "--progress", "json"), env=env)
    # Readiness: every one of the eight has bytes on disk, read from events under a deadline.
    started = set()
    while len(started) < 8:
        event = proc.wait_event("progress")
        if event["bytes"] > 0:
            started.add(event["path"])
    if size <= 256 * 1024:
        assert not list(out.iterdir())  # in memory: no file, no .part, no sidecar yet
    proc.signal(signal.SIGINT)
    assert proc.wait() == 130
    sizes = {}
    for name, body in bodies.items():
        assert not (out / name).exists()
        part = (out / (name + ".part")).read_bytes()
        assert 0 < len(part) < len(body) and body.startswith(part)
        sizes[name] = len(part)
    with server.lock:
        for res in resources.values():
            res.chunk_delay = 0
    r = run(*argv, "-c", "--json", env=env)
    assert r.returncode == 0, r.stderr
    objects = json_lines(r.stdout, only_json=True)
    assert len(objects) == 8
    for obj in objects:
        name = os.path.basename(obj["path"])
        assert obj["status"] == 206
        assert obj["sha256"] == hashlib.sha256(bodies[name]).hexdigest()
        assert (out / name).read_bytes() == bodies[name]
        last = server.requests_for("/" + name)[-1]["headers"]
        assert last["range"] == f"bytes={sizes[name]}-"
        assert last["if-range"] == '"v1"'
    assert not list(out.glob("*.part"))


def test_limit_rate_caps_the_total_across_all_transfers(server, tmp_path, env):
    lines = []
    for i in range(20):
        url = server.add(f"/r{i}.bin", Resource(os.urandom(200_000)))
        lines.append(f"{url} r{i}.bin")
    listed = write_list(tmp_path / "list.txt", lines)
    out = tmp_path / "out"
    out.mkdir()
    # --no-sync: the rate of the transfers, not of the disk's fsyncs after them.
    r = run("retrieve", "-j", "8", "--limit-rate", "2M", "--no-sync", "-O", "--output-dir",
            str(out), "-i", listed, env=env)
    ended = time.monotonic()
    assert r.returncode == 0, r.stderr
    # From the first request on: the process's start-up is not part of the transfer.
    with server.lock:
        begun = min(request["time"] for request in server.requests)
    rate = 20 * 200_000 / (ended - begun)
    print(f"total rate {rate:.0f} B/s ({rate / (2 * 1024 * 1024):.3f} of 2 MiB/s)")
    assert 0.9 * 2 * 1024 * 1024 <= rate <= 1.1 * 2 * 1024 * 1024, f"{rate:.0f} B/s"


def test_no_more_than_jobs_connections_are_open_at_once(server, tmp_path, env):
    lines = []
    for i in range(30):
        url = server.add(f"/c{i}.bin", Resource(os.urandom(50_000), chunk=8192, chunk_delay=0.002))
        lines.append(f"{url} c{i}.bin")
    listed = write_list(tmp_path / "list.txt", lines)
    out = tmp_path / "out"
    out.mkdir()
    r = run("retrieve", "-j", "3", "-O", "--output-dir", str(out), "-i", listed, env=env)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 30
    assert 1 <= server.most_open <= 3
    assert server.connections <= 6  # reused, not one per file


@pytest.mark.parametrize("sync", [[], ["--no-sync"]], ids=["durable", "no-sync"])
def test_hundreds_of_small_files_are_byte_exact_over_at_most_jobs_connections(
        server, tmp_path, env, sync):
    """Many small files (the finishing threads, or the loop itself without fsync, settle
    them), and two larger ones among them (settled by the finishing threads either way)."""
    bodies = {}
    lines = []
    for i in range(300):
        body = os.urandom(600_000 if i in (5, 150) else 1000 + 37 * i)
        url = server.add(f"/s{i}.bin", Resource(body))
        lines.append(url)
        bodies[f"s{i}.bin"] = body
    listed = write_list(tmp_path / "list.txt", lines)
    out = tmp_path / "out"
    out.mkdir()
    r = run("retrieve", *sync, "-j", "16", "-O", "--output-dir", str(out), "-i", listed, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.decode().splitlines()) == sorted(str(out / name) for name in bodies)
    assert sorted(os.listdir(out)) == sorted(bodies)  # no .part, no sidecar left
    for name, body in bodies.items():
        assert (out / name).read_bytes() == body, name
        assert os.stat(out / name).st_mode & 0o777 == 0o666 & ~current_umask()
    assert 1 <= server.most_open <= 16
    assert server.connections <= 32  # reused, not one per file


SMALL_FILES_NGINX = """
events {{ worker_connections 64; }}
http {{ access_log off; {temp_paths} server {{ listen 127.0.0.1:{port}; root {d}/www; }} }}
"""


@needs_nginx
def test_a_list_of_small_files_never_sits_idle(tmp_path, env):
    """Files come out steadily at the default -j 4. The loop once looked for work to start
    before taking in what had finished: with the finishing cap reached it started nothing,
    then took in everything finished and, with nothing running or finishing, slept its
    longest wait (500 ms). 1000 files of 10 KiB took 3 s instead of 0.1 from nginx."""
    www = tmp_path / "www"
    www.mkdir()
    bodies = {f"t{i}.bin": os.urandom(2000) for i in range(500)}
    for name, body in bodies.items():
        (www / name).write_bytes(body)
    out = tmp_path / "out"
    out.mkdir()
    port = free_port()
    listed = write_list(tmp_path / "list.txt",
                        [f"http://127.0.0.1:{port}/{name}" for name in bodies])
    with running_nginx(tmp_path, SMALL_FILES_NGINX, {"port": port}):
        for attempt in range(3):
            for name in os.listdir(out):
                os.unlink(out / name)
            proc = subprocess.Popen(
                nettool_argv("retrieve", "--no-sync", "-O", "--output-dir", str(out), "-i",
                             listed), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            arrivals = []
            for _ in proc.stdout:  # until EOF (a hang is ended by pytest's --timeout)
                arrivals.append(time.monotonic())
            try:
                assert proc.wait(timeout=DEADLINE) == 0, proc.stderr.read()
            finally:
                proc.kill()
                proc.wait()
            assert len(arrivals) == len(bodies)
            longest = max(b - a for a, b in zip(arrivals, arrivals[1:]))
            # Without the fix nearly every run had several gaps of 500 ms; a file takes well
            # under a millisecond here (a few with sanitizers).
            assert longest < 0.4, (attempt, longest)
    for name, body in bodies.items():
        assert (out / name).read_bytes() == body, name


def current_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_retry_after_holds_back_its_own_host_only(server, tmp_path, env):
    from download_helpers import DownloadServer
    other = DownloadServer()
    try:
        busy = Resource(os.urandom(5000))
        busy.busy, busy.retry_after = 1, "2"
        lines = [f"{server.add('/busy.bin', busy)} busy.bin",
                 f"{server.add('/next.bin', Resource(os.urandom(5000)))} next.bin"]
        for i in range(4):
            lines.append(f"{other.add(f'/o{i}.bin', Resource(os.urandom(5000)))} o{i}.bin")
        listed = write_list(tmp_path / "list.txt", lines)
        out = tmp_path / "out"
        out.mkdir()
        r = run("retrieve", "-j", "1", "--retry", "2", "-O", "--output-dir", str(out),
                "-i", listed, env=env)
        assert r.returncode == 0, r.stderr
        first = server.requests_for("/busy.bin")[0]["time"]
        # The other host went on at once; this host's next file waited for Retry-After.
        assert all(other.requests_for(f"/o{i}.bin")[0]["time"] - first < 1.5 for i in range(4))
        assert server.requests_for("/next.bin")[0]["time"] - first >= 1.9
        assert server.requests_for("/busy.bin")[1]["time"] - first >= 1.9
        printed = [os.path.basename(p) for p in r.stdout.decode().splitlines()]
        assert printed.index("o3.bin") < printed.index("busy.bin")
    finally:
        other.close()


def test_malformed_lines_fail_alone_with_their_numbers(server, tmp_path, env):
    url = server.add("/a.bin", Resource(b"a" * 100))
    listed = write_list(tmp_path / "list.txt", [
        "# a comment", "", f"{url} a.bin", f"{url} b.bin extra", "http://a.invalid/\x1b[31m", "::::",
        f"{url} -", "http://[::1"])
    out = tmp_path / "out"
    out.mkdir()
    r = run("retrieve", "-O", "--output-dir", str(out), "-i", listed, env=env)
    assert r.returncode == 2, r.stderr
    assert r.stdout.decode().splitlines() == [str(out / "a.bin")]
    errors = r.stderr.decode()
    for number in (4, 5, 6, 7, 8):
        assert f"list.txt:{number}:" in errors
    r = run("retrieve", "--json", "-O", "--output-dir", str(tmp_path), "-i", listed, env=env)
    objects = json_lines(r.stdout, only_json=True)
    assert sorted(o["line"] for o in objects if o["event"] == "error") == [4, 5, 6, 7, 8]


def test_empty_and_missing_lists(tmp_path, env):
    empty = write_list(tmp_path / "empty.txt", ["# nothing", ""])
    r = run("retrieve", "-i", empty, env=env)
    assert r.returncode == 2
    assert b"holds no URL" in r.stderr
    r = run("retrieve", "-i", str(tmp_path / "absent.txt"), env=env)
    assert r.returncode == 3
    assert b"absent.txt" in r.stderr
    r = run("retrieve", "--json", "-i", str(tmp_path / "absent.txt"), env=env)
    [obj] = json_lines(r.stdout, only_json=True)
    assert obj["event"] == "error" and obj["exit"] == 3


def test_list_from_stdin_into_the_temp_area(server, tmp_path, env, area):
    bodies = [os.urandom(3000) for _ in range(5)]
    urls = [server.add(f"/s{i}.bin", Resource(body)) for i, body in enumerate(bodies)]
    r = run("retrieve", "-i", "-", input="\n".join(urls).encode(), env=env)
    assert r.returncode == 0, r.stderr
    paths = r.stdout.decode().splitlines()
    assert len(paths) == 5
    assert sorted(open(p, "rb").read() for p in paths) == sorted(bodies)
    assert all(p.startswith(str(area)) for p in paths)
    listed = run("clean", "--list", env=env)
    assert listed.returncode == 0
    assert all(os.path.basename(p).encode() in listed.stdout for p in paths)


def test_duplicate_output_names_fail_on_the_second_line(server, tmp_path, env):
    first = server.add("/one.bin", Resource(b"1" * 500))
    second = server.add("/two.bin", Resource(b"2" * 500))
    listed = write_list(tmp_path / "list.txt", [f"{first} same.bin", f"{second} ./same.bin"])
    r = run("retrieve", "-i", listed, cwd=tmp_path, env=env)
    assert r.returncode == 2
    assert (tmp_path / "same.bin").read_bytes() == b"1" * 500
    assert b"list.txt:2: ./same.bin is also the FILE of line 1" in r.stderr
    assert server.requests_for("/two.bin") == []


def test_hostile_files_follow_the_file_operand_rules(server, tmp_path, env):
    url = server.add("/h.bin", Resource(b"h" * 500))
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    existing = tmp_path / "existing.bin"
    existing.write_bytes(b"keep")
    # Without --output-dir a FILE is a path as typed: ../x lands there, an existing file is
    # never replaced without --force.
    listed = write_list(tmp_path / "list.txt", [f"{url} ../up.bin", f"{url} {existing}"])
    r = run("retrieve", "-i", listed, cwd=work, env=env)
    assert r.returncode == 3, r.stderr
    assert (tmp_path / "up.bin").read_bytes() == b"h" * 500
    assert existing.read_bytes() == b"keep"
    assert b"list.txt:2:" in r.stderr and b"--force" in r.stderr
    # With --output-dir a FILE must stay inside it.
    listed = write_list(tmp_path / "list2.txt", [f"{url} ../x.bin", f"{url} /tmp/abs.bin",
                                                 f"{url} fine.bin"])
    r = run("retrieve", "-O", "--output-dir", str(work / "out"), "-i", listed, env=env)
    assert r.returncode == 2
    assert os.listdir(work / "out") == ["fine.bin"]
    assert not (work / "x.bin").exists()
    assert b"list2.txt:1:" in r.stderr and b"list2.txt:2:" in r.stderr
    assert b"outside --output-dir" in r.stderr


def test_a_long_o_list_still_refuses_what_its_output_dir_already_holds(server, tmp_path, env):
    """With 16 or more -O URLs the output directory's names are read once, so that names not
    there are not looked up file by file. The names that were there are looked at as ever: an
    existing file is not replaced, and an earlier download's .part is not taken over."""
    out = tmp_path / "out"
    out.mkdir()
    bodies = {f"n{i:02}.bin": os.urandom(3000) for i in range(20)}
    lines = [server.add(f"/{name}", Resource(body)) for name, body in bodies.items()]
    (out / "n03.bin").write_bytes(b"theirs")
    (out / "n07.bin.part").write_bytes(b"an earlier download")
    r = run("retrieve", "-O", "--output-dir", str(out), "-i",
            write_list(tmp_path / "list.txt", lines), env=env)
    assert r.returncode == 3, r.stderr
    assert (out / "n03.bin").read_bytes() == b"theirs"
    assert not (out / "n07.bin").exists()
    assert (out / "n07.bin.part").read_bytes() == b"an earlier download"
    assert b"n03.bin" in r.stderr and b"n07.bin.part" in r.stderr, r.stderr
    saved = set(r.stdout.decode().split())
    assert saved == {str(out / name) for name in bodies if name not in ("n03.bin", "n07.bin")}
    for name in bodies.keys() - {"n03.bin", "n07.bin"}:
        assert (out / name).read_bytes() == bodies[name], name


def test_an_output_dir_swapped_for_a_link_mid_run_cannot_redirect_the_files(
        server, tmp_path, env, procs):
    """The -O downloads are made in the --output-dir opened when the run started."""
    bodies, lines = {}, []
    for i in range(3):
        body = os.urandom(100_000)  # held in memory until complete: made at the very end
        url = server.add(f"/s{i}.bin", Resource(body, chunk=8192, chunk_delay=0.1))
        lines.append(url)
        bodies[f"s{i}.bin"] = body
    listed = write_list(tmp_path / "list.txt", lines)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    proc = procs(nettool_argv("retrieve", "-j", "3", "-O", "--output-dir", str(out), "-i",
                              listed, "--progress", "json"), env=env)
    started = set()
    while len(started) < 3:
        event = proc.wait_event("progress")
        if event["bytes"] > 0:
            started.add(event["path"])
    out.rename(tmp_path / "out.old")
    out.symlink_to(elsewhere)
    assert proc.wait() == 0
    assert not os.listdir(elsewhere)
    for name, body in bodies.items():
        assert (tmp_path / "out.old" / name).read_bytes() == body


def test_usage_errors_of_the_list_options(tmp_path, env):
    listed = write_list(tmp_path / "list.txt", ["http://127.0.0.1:9/x"])
    for args in (["-i", listed, "http://127.0.0.1:9/y"], ["-j", "4", "http://127.0.0.1:9/y"],
                 ["-i", listed, "-j", "0"], ["-i", listed, "--progress", "bar"], []):
        r = run("retrieve", *args, env=env, timeout=DEADLINE)
        assert r.returncode == 2, (args, r.stderr)
