"""Shared helpers for the end-to-end tests: the real nettool binary against real peers on
loopback. Never a fixed port (port 0 and the `listening` event), never sleep-and-hope
(readiness is a line read under a deadline), and every process started is stopped by pid."""
import json
import os
import select
import signal
import socket
import subprocess
import time

import pytest

NETTOOL = os.environ.get("NETTOOL_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "nettool")
SANITIZED = os.environ.get("NETTOOL_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
# Deadlines are generous under ASan, which slows start-up and I/O.
DEADLINE = 20.0 if SANITIZED else 10.0


def run(*args, input=None, timeout=DEADLINE, env=None, **kwargs):
    """Runs nettool to completion; returns the CompletedProcess (bytes)."""
    return subprocess.run([NETTOOL, *args], input=input, capture_output=True,
                          timeout=timeout, env=env, **kwargs)


class Proc:
    """A nettool (or other) process in the background, with line reading under deadlines."""

    def __init__(self, argv, stdin=subprocess.DEVNULL, env=None, **kwargs):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, **kwargs)
        self._err = b""
        self.stderr_lines = []

    @property
    def pid(self):
        return self.p.pid

    def read_stderr_line(self, timeout=DEADLINE):
        """Returns the next stderr line (str, without newline) or raises on deadline/EOF."""
        end = time.monotonic() + timeout
        while b"\n" not in self._err:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no stderr line from {self.argv} within {timeout}s; "
                                   f"so far: {self._err!r}")
            ready, _, _ = select.select([self.p.stderr], [], [], left)
            if ready:
                chunk = os.read(self.p.stderr.fileno(), 65536)
                if not chunk:
                    raise EOFError(f"{self.argv} closed stderr; exit={self.p.poll()} "
                                   f"so far: {self._err!r}")
                self._err += chunk
        line, self._err = self._err.split(b"\n", 1)
        text = line.decode(errors="replace")
        self.stderr_lines.append(text)
        return text

    def wait_event(self, name, timeout=DEADLINE):
        """Reads JSON Lines from stderr until an object with event == name; returns it."""
        end = time.monotonic() + timeout
        while True:
            line = self.read_stderr_line(max(0.01, end - time.monotonic()))
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("event") == name:
                return obj

    def wait(self, timeout=DEADLINE):
        return self.p.wait(timeout=timeout)

    def signal(self, signo):
        if self.p.poll() is None:
            os.kill(self.p.pid, signo)

    def stop(self):
        """Stops the process by pid (TERM, then KILL) and reaps it."""
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=5)
        for f in (self.p.stdout, self.p.stderr, self.p.stdin):
            if f:
                f.close()

    def rest_of_stderr(self, timeout=DEADLINE):
        """Everything left on stderr after the process exits (str)."""
        self.p.wait(timeout=timeout)
        rest = self._err + self.p.stderr.read()
        self._err = b""
        return rest.decode(errors="replace")


@pytest.fixture
def procs():
    """Starts background processes; stops every one of them by pid after the test."""
    started = []

    def start(argv, **kwargs):
        proc = Proc(argv, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def nettool_argv(*args):
    return [NETTOOL, *args]


def recv_all(sock, limit=1 << 30, timeout=DEADLINE):
    """Reads until EOF (or limit bytes) under a deadline."""
    sock.settimeout(timeout)
    chunks = []
    total = 0
    while total < limit:
        data = sock.recv(min(1 << 20, limit - total))
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def connect_tcp(host, port, timeout=DEADLINE):
    return socket.create_connection((host, port), timeout=timeout)
