"""Shared helpers for the end-to-end tests: the real nettool binary against real peers on
loopback. Never a fixed port (port 0 and the `listening` event), never sleep-and-hope
(readiness is a line read under a deadline), and every process started is stopped by pid.

Every JSON line nettool writes in these tests is checked against the repository's schema,
docs/nettool-json.schema.json, here: in run() for captured output, in Proc.wait_event() and
json_lines() for lines read as they come."""
import json
import os
import select
import signal
import socket
import subprocess
import time

import jsonschema
import pytest

NETTOOL = os.environ.get("NETTOOL_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "nettool")
SOURCE_DIR = os.environ.get("NETTOOL_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
SANITIZED = os.environ.get("NETTOOL_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
# Deadlines are generous under ASan, which slows start-up and I/O.
DEADLINE = 20.0 if SANITIZED else 10.0

SCHEMA_PATH = os.path.join(SOURCE_DIR, "docs", "nettool-json.schema.json")
with open(SCHEMA_PATH, encoding="utf-8") as _f:
    SCHEMA = json.load(_f)
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def check_json(obj, line=None):
    """Returns obj when it matches the schema; otherwise fails with the first problem."""
    errors = sorted(_VALIDATOR.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        raise AssertionError(f"JSON output outside docs/nettool-json.schema.json: "
                             f"{errors[0].message} (at {list(errors[0].absolute_path)}) in "
                             f"{line if line is not None else obj!r}")
    return obj


def parse_json_line(line):
    """One JSON Lines record (str or bytes), parsed and checked against the schema."""
    text = line.decode() if isinstance(line, bytes) else line
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise AssertionError(f"not a JSON line ({e}): {text!r}") from None
    if not isinstance(obj, dict):
        raise AssertionError(f"a JSON line that is not an object: {text!r}")
    return check_json(obj, text)


def json_lines(text, only_json=False):
    """The JSON objects among the lines of text (str or bytes), each checked against the schema:
    every line that starts with '{'; with only_json, every non-empty line must be one."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    out = []
    for line in text.splitlines():
        if line.startswith("{") or (only_json and line.strip()):
            out.append(parse_json_line(line))
    return out


def json_rules(args):
    """How nettool's two streams carry JSON for a command line (args after the binary):
    (stdout rule, stderr rule), each "only" (every line is a JSON object), "objects" (the lines
    that start with '{' are) or None (data or human text)."""
    args = list(args)
    sub = args[0] if args else ""
    wants_json = "--json" in args
    progress_json = "--progress=json" in args or any(
        a == "--progress" and b == "json" for a, b in zip(args, args[1:]))
    data_on_stdout = sub == "get" or (sub == "retrieve" and "-" in args[1:])
    if wants_json and sub == "serve":
        return None, "only"
    stdout_rule = "only" if wants_json and sub in ("connect", "retrieve", "clean", "ports") \
        and not data_on_stdout else None
    stderr_rule = "objects" if wants_json or progress_json else None
    return stdout_rule, stderr_rule


def check_captured_json(args, stdout, stderr):
    """Checks the JSON in a finished nettool's output (bytes) against the schema."""
    for rule, text in zip(json_rules(args), (stdout, stderr)):
        if rule:
            json_lines(text, only_json=rule == "only")


def run(*args, input=None, timeout=DEADLINE, env=None, **kwargs):
    """Runs nettool to completion; returns the CompletedProcess (bytes). Any JSON it wrote is
    checked against the schema."""
    r = subprocess.run([NETTOOL, *args], input=input, capture_output=True,
                       timeout=timeout, env=env, **kwargs)
    if r.stdout is not None and r.stderr is not None:
        check_captured_json(args, r.stdout, r.stderr)
    return r


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
        """Reads stderr until a JSON object with event == name; returns it. Every JSON line on
        the way is checked against the schema (and, for serve --json, every line must be one)."""
        only_json = self.argv[:1] == [NETTOOL] and json_rules(self.argv[1:])[1] == "only"
        end = time.monotonic() + timeout
        while True:
            line = self.read_stderr_line(max(0.01, end - time.monotonic()))
            if not line.startswith("{") and not (only_json and line.strip()):
                continue
            obj = parse_json_line(line)
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


# ctest reads a file's exit status only. A file whose every test was skipped exits 77, which
# tests/CMakeLists.txt declares as SKIP_RETURN_CODE, so ctest shows it as skipped, not passed.
SKIPPED_EXIT = 77


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter is not None else {}
    if exitstatus == 0 and stats.get("skipped") and not stats.get("passed"):
        session.exitstatus = SKIPPED_EXIT


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
