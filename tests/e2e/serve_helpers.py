"""Helpers for test_serve.py: start `nettool serve --json` and learn its ports from the
`listening` events; small socket clients with deadlines. Every event read is checked against
the JSON schema (conftest.py)."""
import errno
import os
import signal
import socket
import subprocess
import threading
import time

from conftest import DEADLINE, NETTOOL, connect_tcp, json_lines, parse_json_line, recv_all


def start_serve(procs, *args, stdin=subprocess.DEVNULL, listeners=1, **kwargs):
    """Starts `nettool serve ARGS --json`; returns (proc, [listening events])."""
    proc = procs([NETTOOL, "serve", *args, "--json"], stdin=stdin, **kwargs)
    events = [proc.wait_event("listening") for _ in range(listeners)]
    return proc, events


def port_of(events):
    """The port of the first `listening` event: {"event":"listening","local":{"address","port"}}."""
    return events[0]["local"]["port"]


def read_events_until_exit(proc, timeout=DEADLINE):
    """All JSON events left on stderr once the process has exited (serve --json writes nothing
    else there)."""
    return json_lines(proc.rest_of_stderr(timeout), only_json=True)


def exchange(host, port, payload=b"", half_close=True, family=None, timeout=DEADLINE):
    """Connects, sends payload, optionally shuts down writing, reads to EOF."""
    fam = family or (socket.AF_INET6 if ":" in host else socket.AF_INET)
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        if payload:
            s.sendall(payload)
        if half_close:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                # A greeting server closes a silent client at once, and bytes that arrive
                # after that are answered with a reset (nettool-serve(1)): the socket is then
                # closed (ENOTCONN), but what the server sent is still there to read.
                if e.errno != errno.ENOTCONN:
                    raise
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


class StdoutCollector:
    """Reads a process's stdout in a thread (so a relay never blocks on a full pipe)."""

    def __init__(self, proc):
        self.data = bytearray()
        self._thread = threading.Thread(target=self._run, args=(proc.p.stdout,), daemon=True)
        self._thread.start()

    def _run(self, f):
        while True:
            chunk = os.read(f.fileno(), 1 << 20)
            if not chunk:
                return
            self.data += chunk

    def wait_for(self, size, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while len(self.data) < size and time.monotonic() < end:
            time.sleep(0.01)
        return bytes(self.data)

    def join(self, timeout=DEADLINE):
        self._thread.join(timeout)
        return bytes(self.data)


def connect_many(port, attempts, host="127.0.0.1"):
    """Up to `attempts` connections to the server, as many as it accepts; the caller closes them.
    Used to run a server out of descriptors."""
    socks = []
    for _ in range(attempts):
        s = socket.socket()
        s.settimeout(DEADLINE)
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def children_of(pid):
    """{child pid: state letter} of every child of pid, zombies included (from /proc)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out[int(entry)] = fields[0]
    return out


def read_json_line(f, timeout=DEADLINE):
    """One JSON line from a pipe, under a deadline."""
    import select
    data = b""
    end = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = end - time.monotonic()
        ready, _, _ = select.select([f], [], [], max(0, left))
        if not ready:
            raise TimeoutError(f"no line within {timeout}s; so far {data!r}")
        chunk = os.read(f.fileno(), 1)
        if not chunk:
            raise EOFError(f"pipe closed; so far {data!r}")
        data += chunk
    return parse_json_line(data)


class RawServe:
    """`nettool serve ARGS --json` with standard input and output of the caller's choosing
    (files, pipes, a terminal), the port learnt from the first `listening` event. Stopped by
    pid on exit from the `with` block."""

    def __init__(self, *args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **kwargs):
        self.p = subprocess.Popen([NETTOOL, "serve", *args, "--json"], stdin=stdin,
                                  stdout=stdout, stderr=subprocess.PIPE, **kwargs)
        try:
            self.listening = read_json_line(self.p.stderr)
        except Exception:
            self.stop()
            raise

    @property
    def port(self):
        return port_of([self.listening])

    def wait(self, timeout=DEADLINE):
        return self.p.wait(timeout=timeout)

    def stderr_text(self):
        """What is left on stderr once the process has exited."""
        self.p.wait(timeout=DEADLINE)
        return self.p.stderr.read().decode(errors="replace")

    def stop(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait(timeout=DEADLINE)
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f:
                f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def sigterm_with_echo_connections_held(proc, port, count):
    """Holds `count` connections to an echo server (each answered once), sends SIGTERM, and
    checks that every one is still served during the grace period and then closes cleanly.
    The caller checks the exit status and what follows."""
    held = []
    for i in range(count):
        s = connect_tcp("127.0.0.1", port)
        s.sendall(b"%d" % i)
        assert s.recv(10) == b"%d" % i
        held.append(s)
    proc.signal(signal.SIGTERM)
    for i, s in enumerate(held):  # still served during the grace period
        s.sendall(b"again %d" % i)
        assert s.recv(20) == b"again %d" % i
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b""
        s.close()


def cpu_ticks(pid):
    """utime + stime of the process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def calm_while_held_then_serves(proc, port, socks):
    """Out of descriptors with `socks` held: for a second the echo server uses well under a
    core and stays alive; once they are closed a new client is echoed (retried under the
    deadline while the shed ones drain)."""
    try:
        before = cpu_ticks(proc.pid)
        time.sleep(1.0)  # measuring an interval: nothing to wait for
        assert cpu_ticks(proc.pid) - before < 30  # ticks of 10 ms: well under a core
        assert proc.p.poll() is None
    finally:
        for s in socks:
            s.close()
    end = time.monotonic() + DEADLINE
    while True:  # the shed clients are gone; a new one is served
        try:
            assert exchange("127.0.0.1", port, b"after the storm") == b"after the storm"
            return
        except (ConnectionResetError, BrokenPipeError, AssertionError):
            assert time.monotonic() < end
            time.sleep(0.05)


def unix_greetings_then_sigterm(proc, path, count, greeting):
    """`count` clients on the Unix socket `path` each get `greeting`; then SIGTERM ends the
    server with status 0 and the socket file is gone."""
    for _ in range(count):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(DEADLINE)
            s.connect(path)
            assert recv_all(s) == greeting
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert not os.path.exists(path)
