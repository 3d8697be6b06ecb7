"""serve under systemd: socket activation through Debian's `systemd-socket-activate` (several
sockets: TCP and Unix; the endpoint argument is not bound), Accept=yes refused, children that
inherit neither the sockets nor LISTEN_*, and READY=1 sent to a notify socket of the test's own
once every socket listens, activated or not; --workers with passed sockets."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import DEADLINE, NETTOOL, json_lines, recv_all
from connect_helpers import wait_until
from serve_helpers import exchange, port_of, start_serve
from test_serve_scale import drain_stderr
from test_quickstart import private_network_namespace

GREETING = b"Thank you for connecting!\n"
ACTIVATE = shutil.which("systemd-socket-activate")
needs_activate = pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate is not "
                                    "installed (Debian's systemd package; scripts/install-deps.sh)")


def notify_socket(name):
    """A datagram socket the test reads READY=1 from: a path, or '@name' (abstract)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name[1:] if name.startswith("@") else name)
    s.settimeout(DEADLINE)
    return s


def wait_for_text(path, text, count=1, proc=None, timeout=DEADLINE):
    """Waits (bounded) until the file holds `text` `count` times; returns its content."""
    end = time.monotonic() + timeout
    while True:
        content = open(path, errors="replace").read() if os.path.exists(path) else ""
        if content.count(text) >= count:
            return content
        assert time.monotonic() < end, f"no {text!r} x{count} in {path} within {timeout}s: {content!r}"
        assert proc is None or proc.poll() is None, f"exited {proc.poll()}: {content!r}"
        time.sleep(0.02)


class Activated:
    """systemd-socket-activate ARGS nettool serve ... with stderr in a file; stopped by pid."""

    def __init__(self, tmp_path, activate_args, serve_args, env_extra=()):
        self.err = tmp_path / "activate.err"
        argv = [ACTIVATE, *activate_args]
        for item in env_extra:
            argv += ["-E", item]
        self.p = subprocess.Popen(argv + [NETTOOL, "serve", *serve_args],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=open(self.err, "wb"))

    def wait_listening(self, count):
        wait_for_text(self.err, "Listening on ", count, self.p)

    def text(self):
        return open(self.err, errors="replace").read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        return self.p.returncode


@pytest.fixture
def activated():
    started = []

    def start(*args, **kwargs):
        a = Activated(*args, **kwargs)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


# Inside a private network namespace, so that the fixed port is free: loopback up, the sockets
# bound by systemd-socket-activate, its "Listening on" lines awaited (bounded), one client per
# socket (the first starts nettool), then nettool stopped by its pid (the same: it is exec'ed).
SCRIPT = r'''
set -u
ip link set lo up
systemd-socket-activate -l 127.0.0.1:1024 -l "$SOCK" --fdname=web:local \
    -E NOTIFY_SOCKET="$NOTIFY" "$NETTOOL" serve --greet -k --json -v 2>"$ERR" &
pid=$!
for _ in $(seq 1 400); do
    [ "$(grep -c '^Listening on' "$ERR")" -ge 2 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
"$NETTOOL" connect 127.0.0.1 1024 && "$NETTOOL" connect "unix:$SOCK"
status=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid"
echo "serve exit $?" >&2
exit $status
'''


@needs_activate
def test_socket_activate_serves_the_greeting_on_the_passed_tcp_and_unix_sockets(tmp_path):
    namespace = private_network_namespace()
    if namespace is None:
        pytest.skip("no private network namespace: needs unshare and ip, and user namespaces or root")
    ready = notify_socket(str(tmp_path / "notify"))
    env = dict(os.environ, NETTOOL=NETTOOL, SOCK=str(tmp_path / "greet.sock"),
               ERR=str(tmp_path / "err"), NOTIFY=str(tmp_path / "notify"))
    r = subprocess.run([*namespace, "bash", "-c", SCRIPT], env=env, capture_output=True,
                       timeout=4 * DEADLINE)
    err = (tmp_path / "err").read_text(errors="replace")
    assert r.returncode == 0, (r.stderr, err)
    assert r.stdout == GREETING * 2
    assert b"serve exit 0" in r.stderr
    events = json_lines(err)
    listening = [e for e in events if e["event"] == "listening"]
    assert [e["local"] for e in listening] == [{"address": "127.0.0.1", "port": 1024},
                                              {"path": str(tmp_path / "greet.sock")}]
    assert [e["transport"] for e in listening] == ["tcp", "unix"]
    # The endpoint (the default, localhost:1024) was not bound: no ::1 listener.
    notes = [e["message"] for e in events if e["event"] == "note"]
    assert any("socket activation" in n and "web, local" in n for n in notes), notes
    assert ready.recv(64) == b"READY=1"


# UDP: systemd-socket-activate starts nettool when the first datagram arrives; that datagram
# waits in the passed socket and is echoed like the second.
UDP_SCRIPT = r'''
set -u
ip link set lo up
systemd-socket-activate --datagram -l 127.0.0.1:5353 "$NETTOOL" serve --echo -k --json \
    2>"$ERR" &
pid=$!
for _ in $(seq 1 400); do
    grep -q '^Listening on' "$ERR" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
"$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[1]))
for word in (b"one", b"two"):
    s.sendto(word, ("127.0.0.1", 5353))
    sys.stdout.write(s.recv(64).decode() + "\n")
' "$DEADLINE"
status=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid"
exit $status
'''


@needs_activate
def test_socket_activate_passes_a_udp_socket(tmp_path):
    namespace = private_network_namespace()
    if namespace is None:
        pytest.skip("no private network namespace: needs unshare and ip, and user namespaces or root")
    env = dict(os.environ, NETTOOL=NETTOOL, ERR=str(tmp_path / "err"), PYTHON=sys.executable,
               DEADLINE=str(DEADLINE))
    r = subprocess.run([*namespace, "bash", "-c", UDP_SCRIPT], env=env, capture_output=True,
                       timeout=4 * DEADLINE)
    err = (tmp_path / "err").read_text(errors="replace")
    assert r.returncode == 0, (r.stderr, err)
    assert r.stdout == b"one\ntwo\n"
    listening = [e for e in json_lines(err) if e["event"] == "listening"]
    assert listening == [{"event": "listening", "transport": "udp",
                          "local": {"address": "127.0.0.1", "port": 5353}}]


@needs_activate
def test_unix_socket_activation_children_inherit_neither_socket_nor_variables(tmp_path,
                                                                              activated):
    path = str(tmp_path / "exec.sock")
    child = ('printf "%s %s " "${LISTEN_FDS-unset}" "${LISTEN_PID-unset}"; '
             'if [ -e /proc/$$/fd/3 ]; then echo fd3-open; else echo fd3-closed; fi')
    a = activated(tmp_path, ["-l", path], ["--sh-exec", child, "-k", "--json", "9"])
    a.wait_listening(1)
    for _ in range(2):  # the first connection starts nettool, the second is served by it too
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(DEADLINE)
            s.connect(path)
            data = b""
            while chunk := s.recv(1024):
                data += chunk
            assert data == b"unset unset fd3-closed\n"
    events = json_lines(a.text())
    assert [e["local"] for e in events if e["event"] == "listening"] == [{"path": path}]
    assert a.stop() == 0
    # The socket file is systemd's (here: systemd-socket-activate's): serve leaves it.
    assert os.path.exists(path)


@needs_activate
def test_accept_yes_connections_are_refused_with_the_fix(tmp_path, activated):
    path = str(tmp_path / "accept.sock")
    a = activated(tmp_path, ["--accept", "-l", path], ["--greet"])
    a.wait_listening(1)
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(DEADLINE)
        s.connect(path)
        assert s.recv(1024) == b""  # closed without a greeting
    text = wait_for_text(a.err, "nettool: error:")
    assert "does not listen" in text and "Accept=no" in text, text


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_ready_reaches_the_notify_socket_once_listening(procs, tmp_path, kind):
    name = (str(tmp_path / "notify") if kind == "path"
            else f"@nettool-test-notify-{os.getpid()}-{time.monotonic_ns()}")
    ready = notify_socket(name)
    proc, events = start_serve(procs, "--greet", "-k", "127.0.0.1:0",
                               env=dict(os.environ, NOTIFY_SOCKET=name))
    assert ready.recv(64) == b"READY=1"
    # Sent after the listener was ready: a client is served at once.
    assert exchange("127.0.0.1", port_of(events), half_close=False) == GREETING
    ready.settimeout(0.2)
    with pytest.raises(socket.timeout):
        ready.recv(64)  # once only
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_unreachable_notify_socket_is_a_warning_not_a_failure(procs, tmp_path):
    missing = str(tmp_path / "nobody-listens")
    proc, events = start_serve(procs, "--greet", "-k", "127.0.0.1:0",
                               env=dict(os.environ, NOTIFY_SOCKET=missing))
    warning = proc.wait_event("warning")
    assert f"NOTIFY_SOCKET={missing}" in warning["message"]
    assert exchange("127.0.0.1", port_of(events), half_close=False) == GREETING


def test_listen_fds_of_another_process_are_ignored(procs):
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID="1", LISTEN_FDNAMES="x")
    proc, events = start_serve(procs, "--greet", "127.0.0.1:0", env=env)
    assert events[0]["local"]["address"] == "127.0.0.1" and port_of(events) != 0
    assert exchange("127.0.0.1", port_of(events), half_close=False) == GREETING
    assert proc.wait() == 0


# --- --workers -------------------------------------------------------------------------------

def with_passed_socket(sock, *serve_args):
    """argv and keyword arguments that start `nettool serve ARGS` with `sock` as descriptor 3
    and LISTEN_PID/LISTEN_FDS naming it, as systemd passes sockets (the shell execs nettool,
    so $$ is nettool's pid)."""
    script = 'exec 3<&"$PASSED" && LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve "$@"'
    argv = ["bash", "-c", script, NETTOOL, *serve_args]
    return argv, dict(pass_fds=(sock.fileno(),), env=dict(os.environ, PASSED=str(sock.fileno())))


def epoll_sets_watching(pid, fd):
    """How many of the process's epoll instances watch the file open as descriptor `fd` under
    any descriptor number (a worker may hold a duplicate): an epoll fdinfo has one "tfd:" line
    per watched descriptor, with the file's inode number in hex."""
    inode = os.stat(f"/proc/{pid}/fd/{fd}").st_ino
    count = 0
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{entry}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/{pid}/fdinfo/{entry}") as f:
                watched = [int(field[4:], 16) for line in f if line.startswith("tfd:")
                           for field in line.split() if field.startswith("ino:")]
        except OSError:
            continue
        count += inode in watched
    return count


def threads_of(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.parametrize("family", ["tcp", "unix"])
def test_workers_share_the_passed_sockets_and_ready_follows_every_worker(procs, tmp_path,
                                                                        family):
    if family == "tcp":
        passed = socket.create_server(("127.0.0.1", 0))
        address, family_id = passed.getsockname(), socket.AF_INET
    else:
        address, family_id = str(tmp_path / "workers.sock"), socket.AF_UNIX
        passed = socket.socket(socket.AF_UNIX)
        passed.bind(address)
        passed.listen(128)
    ready = notify_socket(str(tmp_path / "notify"))
    argv, kwargs = with_passed_socket(passed, "--greet", "-k", "--workers", "2", "--json",
                                      "127.0.0.1:1")
    kwargs["env"]["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    proc = procs(argv, **kwargs)
    passed.close()  # serve holds the only copy now
    listening = proc.wait_event("listening")
    assert listening["local"] == ({"address": "127.0.0.1", "port": address[1]}
                                  if family == "tcp" else {"path": address})
    assert ready.recv(64) == b"READY=1"
    assert threads_of(proc.pid) == 2  # sent once the second worker runs, not before
    drain_stderr(proc)
    # Both workers wait on the passed socket (descriptor 3): each worker's event loop has it in
    # its epoll set. (Which worker a given client wakes is the scheduler's choice, so counting
    # wake-ups per worker would test the scheduler.) READY=1 comes once the sockets listen and
    # the workers have started; each adds the socket to its loop as it begins to run.
    assert wait_until(lambda: epoll_sets_watching(proc.pid, 3) == 2)
    for _ in range(100):
        with socket.socket(family_id) as s:
            s.settimeout(DEADLINE)
            s.connect(address)
            assert recv_all(s) == GREETING
    assert epoll_sets_watching(proc.pid, 3) == 2
    ready.settimeout(0.2)
    with pytest.raises(socket.timeout):
        ready.recv(64)  # once only
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_a_passed_udp_socket_with_workers_is_a_usage_error(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as passed:
        passed.bind(("127.0.0.1", 0))
        argv, kwargs = with_passed_socket(passed, "--echo", "-k", "--workers", "2", "127.0.0.1:1")
        r = subprocess.run(argv, capture_output=True, timeout=DEADLINE, **kwargs)
    assert r.returncode == 2
    assert "passed UDP socket cannot be split among --workers" in r.stderr.decode()


def test_ready_with_workers_once_every_worker_runs(procs, tmp_path):
    ready = notify_socket(str(tmp_path / "notify"))
    proc, events = start_serve(procs, "--greet", "-k", "--workers", "3", "127.0.0.1:0",
                               env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify")))
    assert ready.recv(64) == b"READY=1"
    assert threads_of(proc.pid) == 3
    assert exchange("127.0.0.1", port_of(events), half_close=False) == GREETING
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
