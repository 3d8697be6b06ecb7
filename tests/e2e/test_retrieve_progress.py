"""retrieve's progress display under a real pseudo-terminal: the single bar and the block of
retrieve -i (a line per running download and a total line) never write a line wider than the
terminal, 60 columns and then 40 after a resize (SIGWINCH); the block shows several downloads
at once and a total; a result on stdout never lands inside the block; nothing at all when
stderr is not a terminal; --progress json is one object per line, each naming its line.

The server trickles its bodies: each response sends its headers and a first piece, then waits
for the test to release it (bounded by a deadline), so that "several downloads are running" and
"the terminal was resized while they ran" are states the test sets up, not timing it hopes for."""
import fcntl
import http.server
import os
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time

import pytest

from conftest import DEADLINE, NETTOOL, json_lines, run
from download_helpers import area, env  # noqa: F401 (fixtures)

CSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")
PIECE = 4096
PIECES = 24
SIZE_SHOWN = f"{PIECE * PIECES / 1024:.1f} KiB"  # as nettool shows the size of a body


class TrickleServer:
    """127.0.0.1, port 0. /NAME answers PIECES pieces of PIECE bytes, 10 ms apart; the first
    piece goes at once, the rest only after release() (or after DEADLINE). /u/NAME does the same
    without Content-Length (the size unknown: the body ends when the connection closes)."""

    def __init__(self):
        self.released = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                unknown = self.path.startswith("/u/")
                body = (self.path.encode() * (PIECE * PIECES))[:PIECE * PIECES]
                if unknown:
                    self.protocol_version = "HTTP/1.0"
                    self.close_connection = True
                self.send_response(200)
                if not unknown:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(PIECES):
                        if i == 1:
                            owner.released.wait(DEADLINE)
                        self.wfile.write(body[i * PIECE:(i + 1) * PIECE])
                        self.wfile.flush()
                        time.sleep(0.01)  # a trickle, so that frames come while it runs
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def trickle():
    s = TrickleServer()
    yield s
    s.close()


def set_size(fd, columns, rows=24):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def shown_lines(data):
    """What the terminal shows line by line: control sequences removed, split at CR and LF."""
    text = CSI.sub(b"", data).decode("utf-8", errors="replace")
    return re.split(r"[\r\n]", text)


def screen(data, columns):
    """The rows a terminal `columns` wide shows after `data`: printable text (wrapped at the
    last column), CR, LF, and the only sequences nettool writes: CSI n A (up), CSI K (clear to
    the end of the row) and CSI J (clear to the end of the screen). Rows are never scrolled
    away, so that what was overwritten and what was left behind can both be seen."""
    rows, row, col = [[]], 0, 0
    text = data.decode("utf-8", errors="replace")
    i = 0
    while i < len(text):
        m = re.match(r"\x1b\[([0-9]*)([AJK])", text[i:])
        if m:
            n, op = int(m.group(1) or 1), m.group(2)
            if op == "A":
                row = max(0, row - n)
            else:
                del rows[row][col:]
                if op == "J":
                    del rows[row + 1:]
            i += m.end()
            continue
        c = text[i]
        i += 1
        if c == "\r":
            col = 0
        elif c == "\n":
            row += 1
        else:
            if col >= columns:
                row, col = row + 1, 0
            while len(rows) <= row:
                rows.append([])
            line = rows[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = c
            col += 1
        while len(rows) <= row:
            rows.append([])
    return ["".join(r).rstrip() for r in rows]


def too_wide(data, columns):
    return [line for line in shown_lines(data) if len(line) >= columns]


class OnPty:
    """nettool with stderr (and, when asked, stdout) on a new pseudo-terminal of `columns`."""

    def __init__(self, args, env, columns, rows=24, stdout_on_pty=False, cwd=None):
        self.master, slave = os.openpty()
        set_size(slave, columns, rows)
        self.proc = subprocess.Popen([NETTOOL, *args], env=env, stdin=subprocess.DEVNULL,
                                     stdout=slave if stdout_on_pty else subprocess.PIPE,
                                     stderr=slave, cwd=cwd)
        os.close(slave)
        self.data = b""
        self.closed = False

    def read_some(self, timeout):
        """Whatever arrives within `timeout` seconds; False once the terminal is closed."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: nettool is gone and closed its side
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.data += chunk
        return True

    def read_until(self, predicate, what):
        end = time.monotonic() + DEADLINE
        while not predicate(self.data):
            if time.monotonic() > end or not self.read_some(0.2):
                raise AssertionError(f"no {what} on the terminal: {self.data[-2000:]!r}")

    def drain(self):
        """Everything written so far (nettool stopped: nothing more can come meanwhile)."""
        while not self.closed:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                return
            self.read_some(0)

    def finish(self):
        end = time.monotonic() + DEADLINE
        while self.read_some(0.2) and time.monotonic() < end:
            if self.proc.poll() is not None:
                self.drain()
                break
        code = self.proc.wait(timeout=DEADLINE)
        os.close(self.master)
        return code

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)


def wait_stopped(pid):
    """Until every thread of `pid` is stopped (SIGSTOP), bounded by the deadline."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that ended meanwhile (a download's writer)
        if all(s in ("T", "t") for s in states):
            return
        time.sleep(0.01)
    raise AssertionError("nettool did not stop")


def resize_while_stopped(on_pty, columns):
    """Resizes the terminal with nettool stopped and everything it wrote read, so that what
    comes after is written knowing of the resize, except at most the write under way."""
    os.kill(on_pty.proc.pid, signal.SIGSTOP)
    try:
        wait_stopped(on_pty.proc.pid)
        on_pty.drain()
        mark = len(on_pty.data)
        set_size(on_pty.master, columns)
        # No session: the kernel has no foreground group to tell; the test tells nettool.
        os.kill(on_pty.proc.pid, signal.SIGWINCH)
    finally:
        os.kill(on_pty.proc.pid, signal.SIGCONT)
    return mark


def narrow_then_finish(on_pty, trickle, columns):
    """Narrows the terminal to `columns` with nettool stopped, lets the downloads end (exit 0)
    and returns what nettool wrote before the resize and after it."""
    mark = resize_while_stopped(on_pty, columns)
    trickle.release()
    assert on_pty.finish() == 0
    return on_pty.data[:mark], on_pty.data[mark:]


def frames_after_the_first(data):
    """The block's frames, each starting where the cursor goes back up over the last one,
    without the first (a frame whose size may have been read before a resize)."""
    starts = [m.start() for m in re.finditer(rb"\x1b\[[0-9]+A", data)]
    return data[starts[1]:] if len(starts) > 1 else b""


def write_list(path, urls):
    path.write_text("".join(f"{url}\n" for url in urls))
    return str(path)


def test_block_on_a_60_then_40_column_terminal(trickle, tmp_path, env):
    names = [f"/file-with-a-rather-long-name-number-{i}.bin" for i in range(6)]
    listed = write_list(tmp_path / "list.txt", [trickle.url(n) for n in names])
    out = tmp_path / "out"
    out.mkdir()
    on_pty = OnPty(["retrieve", "-j", "4", "-O", "--output-dir", str(out), "-i", listed], env, 60)
    try:
        # Four downloads running (the server holds them after their first piece): four lines,
        # the names shortened in the middle, and the total line.
        on_pty.read_until(lambda d: all(f"number-{i}.bin".encode() in d for i in range(4))
                          and b"total 0/6 files" in d, "block of four downloads")
        block = shown_lines(on_pty.data)
        running = [line for line in block if "number-" in line and "%" in line]
        assert len({line.split("...")[-1].split()[0] for line in running}) >= 2, block
        assert any("..." in line for line in running), block
        assert all(len(line) < 60 for line in block), too_wide(on_pty.data, 60)

        before, after = narrow_then_finish(on_pty, trickle, 40)
    finally:
        on_pty.stop()
    assert too_wide(before, 60) == []
    assert too_wide(after, 60) == []
    later = frames_after_the_first(after)
    assert b"%" in later  # the test sees frames of running downloads drawn at 40 columns...
    assert too_wide(later, 40) == []  # ...and none of their lines is 40 wide or wider
    last = [line for line in shown_lines(after) if line.strip()][-1]
    assert last.startswith("total 6/6 files"), last
    # Every frame went back over exactly the previous one: the screen holds the total alone.
    assert [row for row in screen(on_pty.data, 60) if row] == [last.rstrip()]
    assert sorted(os.listdir(out)) == sorted(n[1:] for n in names)
    assert "+" not in "".join(shown_lines(before))  # 24 rows: room for every download


def test_more_downloads_than_rows_say_how_many_are_not_shown(trickle, tmp_path, env):
    listed = write_list(tmp_path / "list.txt", [trickle.url(f"/r{i}.bin") for i in range(8)])
    out = tmp_path / "out"
    out.mkdir()
    rows = 6  # room for 4 lines: 2 downloads, "+K more", the total
    on_pty = OnPty(["retrieve", "-j", "8", "-O", "--output-dir", str(out), "-i", listed], env,
                   60, rows)
    try:
        on_pty.read_until(lambda d: re.search(rb"\+[0-9]+ more", d) is not None, "+K more")
        trickle.release()
        assert on_pty.finish() == 0
    finally:
        on_pty.stop()
    frames = re.split(rb"\x1b\[[0-9]+A", on_pty.data)
    # No frame is taller than the rows minus 2, whatever the number of downloads.
    for frame in frames[1:]:
        assert frame.count(b"\n") <= rows - 2, frame
    assert len(os.listdir(out)) == 8
    shown = [row for row in screen(on_pty.data, 60) if row]
    assert len(shown) == 1 and shown[0].startswith("total 8/8 files"), shown


def test_result_lines_on_the_same_terminal_are_never_inside_the_block(trickle, tmp_path, env):
    names = [f"same{i}.bin" for i in range(5)]
    listed = write_list(tmp_path / "list.txt", [trickle.url("/" + n) for n in names])
    (tmp_path / "o").mkdir()
    on_pty = OnPty(["retrieve", "-j", "2", "-O", "--output-dir", "o", "-i", listed], env, 60,
                   stdout_on_pty=True, cwd=str(tmp_path))
    try:
        on_pty.read_until(lambda d: b"total 0/5" in d, "block")
        trickle.release()
        assert on_pty.finish() == 0
    finally:
        on_pty.stop()
    assert too_wide(on_pty.data, 60) == []
    # The block was taken away before each path and drawn again after it: on the screen, the
    # five paths, each a row of its own, then the total line, and nothing the block left.
    shown = [row for row in screen(on_pty.data, 60) if row]
    assert sorted(shown[:-1]) == [f"o/{n}" for n in names], shown
    assert shown[-1].startswith("total 5/5 files"), shown


def test_sigint_leaves_the_total_line_counting_the_interrupted(trickle, tmp_path, env):
    listed = write_list(tmp_path / "list.txt", [trickle.url(f"/i{i}.bin") for i in range(3)])
    out = tmp_path / "out"
    out.mkdir()
    on_pty = OnPty(["retrieve", "-j", "3", "-O", "--output-dir", str(out), "-i", listed], env, 60)
    try:
        on_pty.read_until(lambda d: all(f"i{i}.bin".encode() in d for i in range(3)), "block")
        on_pty.proc.send_signal(signal.SIGINT)
        assert on_pty.finish() == 130
    finally:
        on_pty.stop()
    last = [line for line in shown_lines(on_pty.data) if line.strip()][-1]
    assert last.startswith("total 3/3 files (3 interrupted)"), last
    assert sorted(f for f in os.listdir(out) if f.endswith(".part")) == [
        "i0.bin.part", "i1.bin.part", "i2.bin.part"]


def test_single_bar_follows_the_width_and_sums_up_an_unknown_size(trickle, tmp_path, env):
    on_pty = OnPty(["retrieve", trickle.url("/u/stream-of-unknown-size.bin"),
                    str(tmp_path / "s.bin")], env, 60)
    try:
        on_pty.read_until(lambda d: b"s.bin" in d, "bar")
        before, after = narrow_then_finish(on_pty, trickle, 40)
    finally:
        on_pty.stop()
    assert too_wide(before, 60) == []
    # Redraws start with a carriage return: past the first one after the resize, 40 columns.
    later = after[after.find(b"\r", 1):]
    assert too_wide(later, 40) == [], too_wide(later, 40)
    summary = [line for line in shown_lines(after) if line.strip()][-1].rstrip()
    # The size was unknown: the last line says how much, in how long, how fast.
    assert re.fullmatch(rf"s\.bin  {SIZE_SHOWN} in [0-9.]+s, [0-9.]+ (B|KiB|MiB)/s", summary), summary
    assert (tmp_path / "s.bin").stat().st_size == PIECE * PIECES


def test_single_bar_on_40_columns(trickle, tmp_path, env):
    trickle.release()
    on_pty = OnPty(["retrieve", trickle.url("/known.bin"), str(tmp_path / "known.bin")], env, 40)
    try:
        assert on_pty.finish() == 0
    finally:
        on_pty.stop()
    assert b"100%" in on_pty.data
    assert too_wide(on_pty.data, 40) == []
    assert b"\x1b" not in on_pty.data  # the single bar stays plain text


def test_nothing_when_stderr_is_not_a_terminal(trickle, tmp_path, env):
    trickle.release()
    listed = write_list(tmp_path / "list.txt", [trickle.url(f"/n{i}.bin") for i in range(5)])
    out = tmp_path / "out"
    out.mkdir()
    r = run("retrieve", "-j", "4", "-O", "--output-dir", str(out), "-i", listed, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    assert len(r.stdout.splitlines()) == 5


def test_progress_json_with_many_names_each_line(trickle, tmp_path, env):
    trickle.release()
    urls = [trickle.url(f"/j{i}.bin") for i in range(4)]
    listed = write_list(tmp_path / "list.txt", ["# a comment"] + urls)
    out = tmp_path / "out"
    out.mkdir()
    r = run("retrieve", "-j", "4", "--progress", "json", "-O", "--output-dir", str(out), "-i",
            listed, env=env)
    assert r.returncode == 0, r.stderr
    events = json_lines(r.stderr, only_json=True)  # each line one object, schema-checked
    assert events and all(e["event"] == "progress" for e in events)
    by_line = {}
    for e in events:
        by_line.setdefault(e["line"], []).append(e)
    assert sorted(by_line) == [2, 3, 4, 5]  # the list's line numbers (line 1 is a comment)
    for number, seen in by_line.items():
        assert {e["url"] for e in seen} == {urls[number - 2]}
        assert seen[-1]["done"] is True and seen[-1]["bytes"] == PIECE * PIECES
        # Rate-limited: at most ~10 a second per download, and the last.
        assert len(seen) <= 2 + 10 * (seen[-1]["seconds"] + 1)


def test_progress_line_with_many(trickle, tmp_path, env):
    trickle.release()
    listed = write_list(tmp_path / "list.txt", [trickle.url(f"/l{i}.bin") for i in range(3)])
    out = tmp_path / "out"
    out.mkdir()
    r = run("retrieve", "-j", "3", "--progress", "line", "-O", "--output-dir", str(out), "-i",
            listed, env=env)
    assert r.returncode == 0, r.stderr
    text = r.stderr.decode()
    for i in range(3):
        assert f"l{i}.bin: {SIZE_SHOWN} of {SIZE_SHOWN} (100%), done" in text, text
    assert "\x1b" not in text
