"""serve --model thread|fork: a thread or a process per connection (socketserver's
ThreadingMixIn and ForkingMixIn), each running the same connection code as the event loop.
Concurrency, the --max-conns cap counted in /proc, reaping, every mode, stopping, and hostile
clients."""
import os
import resource
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (DEADLINE, NETTOOL, SANITIZED, connect_tcp, json_lines, parse_json_line,
                      recv_all, run)
from connect_helpers import Server, recv_to_eof, wait_until
from serve_helpers import (RawServe, StdoutCollector, children_of, connect_many, exchange,
                           port_of, sigterm_with_echo_connections_held, start_serve,
                           unix_greetings_then_sigterm,
                           calm_while_held_then_serves)
from test_serve_forward import proxy_reading_target, send_all_then_shut, v1_header

GREETING = b"Thank you for connecting!\n"
MODELS = ["thread", "fork"]


class StderrCollector:
    """Reads the server's stderr in a thread (hundreds of event lines would fill the pipe and
    stall the server); lines() parses what came, each line one JSON object."""

    def __init__(self, proc):
        self.data = bytearray()
        self._proc = proc
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        # What Proc already read past the `listening` event stays in its buffer.
        self.data += self._proc._err
        self._proc._err = b""
        while True:
            try:
                chunk = os.read(self._proc.p.stderr.fileno(), 1 << 16)
            except (OSError, ValueError):  # closed by the procs fixture at the end
                return
            if not chunk:
                return
            self.data += chunk

    def lines(self, timeout=DEADLINE):
        """Every line, once the server has exited; each must be a whole JSON object."""
        self._proc.p.wait(timeout=timeout)
        self._thread.join(timeout)
        return [parse_json_line(line) for line in bytes(self.data).decode().splitlines()]


def start(procs, model, *args):
    proc, events = start_serve(procs, "--model", model, *args, "127.0.0.1:0")
    return proc, port_of(events)


def tasks_of(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def descendants_of(pid):
    """Every process below pid (children, grandchildren...), from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def concurrently(count, work):
    """Runs work(i) for i in range(count) in threads that start together; returns the results
    (an exception counts as a failed result, shown in the assertion)."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run_one(i):
        try:
            barrier.wait(DEADLINE)
            results[i] = work(i)
        except Exception as e:  # reported by the caller's assertion
            results[i] = e
    threads = [threading.Thread(target=run_one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 2)
    assert not any(t.is_alive() for t in threads)
    return results


# --- must show 1: concurrent clients each get exactly their bytes ---------------------------

@pytest.mark.parametrize("model", MODELS)
def test_30_concurrent_greeting_clients_each_get_the_greeting(procs, model):
    proc, port = start(procs, model, "--greet", "-k")
    errors = StderrCollector(proc)
    results = concurrently(30, lambda i: exchange("127.0.0.1", port))
    assert results == [GREETING] * 30
    proc.signal(signal.SIGTERM)
    events = errors.lines()
    assert proc.wait() == 0
    assert [e["event"] for e in events].count("connection") == 30
    assert [e["event"] for e in events].count("close") == 30


@pytest.mark.parametrize("model", MODELS)
def test_100_concurrent_echo_clients_each_get_exactly_their_bytes(procs, model):
    proc, port = start(procs, model, "--echo", "-k", "--backlog", "256")
    errors = StderrCollector(proc)

    def client(i):
        payload = os.urandom(20000 + 37 * i)  # distinct lengths and contents
        return exchange("127.0.0.1", port, payload) == payload
    results = concurrently(100, client)
    assert results.count(True) == 100, [r for r in results if r is not True][:3]
    proc.signal(signal.SIGTERM)
    events = errors.lines()  # every line a whole JSON object, none interleaved
    assert proc.wait() == 0
    closes = [e for e in events if e["event"] == "close"]
    assert len(closes) == 100
    assert sorted(e["bytes_in"] for e in closes) == [20000 + 37 * i for i in range(100)]
    assert all(e["bytes_out"] == e["bytes_in"] for e in closes)


# --- must show 2: --max-conns caps live threads and children --------------------------------

def count_of(model, pid):
    """Threads serving connections (all tasks but the accepting one), or children."""
    return tasks_of(pid) - 1 if model == "thread" else len(children_of(pid))


class Sampler:
    """Samples count_of() every few milliseconds in a thread and keeps the largest value."""

    def __init__(self, model, pid):
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(model, pid), daemon=True)
        self._thread.start()

    def _run(self, model, pid):
        while not self._stop.is_set():
            try:
                self.most = max(self.most, count_of(model, pid))
            except OSError:
                return
            time.sleep(0.002)

    def stop(self):
        self._stop.set()
        self._thread.join(DEADLINE)
        return self.most


def answered(socks, timeout):
    """The sockets among socks that have something to read within timeout."""
    import select
    ready, _, _ = select.select(socks, [], [], timeout)
    return ready


@pytest.mark.parametrize("model", MODELS)
def test_max_conns_4_never_exceeds_4_threads_or_children(procs, model):
    proc, port = start(procs, model, "--echo", "-k", "--max-conns", "4")
    StderrCollector(proc)
    sampler = Sampler(model, proc.pid)
    clients = []
    try:
        for i in range(20):  # all connect (the listen queue holds them), all send
            s = connect_tcp("127.0.0.1", port)
            s.sendall(b"%d;" % i)
            clients.append(s)
        served, waiting = [], list(clients)
        total = 0

        def take_answers(expected):
            nonlocal total
            end = time.monotonic() + DEADLINE
            while total < expected and time.monotonic() < end:
                for s in answered(waiting, 0.1):
                    assert s.recv(10).endswith(b";")
                    waiting.remove(s)
                    served.append(s)
                    total += 1
            assert total == expected
        take_answers(4)
        assert wait_until(lambda: count_of(model, proc.pid) == 4)
        # The fifth waits: nothing more is answered while the four stay open.
        assert answered(waiting, 0.5) == []
        # Each client that leaves lets exactly one more in.
        for expected in range(5, 21):
            served.pop(0).close()
            take_answers(expected)
        for s in served:
            s.close()
        assert wait_until(lambda: count_of(model, proc.pid) == 0)
    finally:
        most = sampler.stop()
        for s in clients:
            s.close()
    assert most <= 4, f"{most} {model}s at once with --max-conns 4"
    assert most == 4


def test_without_max_conns_the_models_have_a_default_cap():
    help_text = run("serve", "--help").stdout.decode()
    assert "else 256 and 64" in " ".join(help_text.split())


# --- must show 3: no zombies ------------------------------------------------------------------

def test_fork_leaves_no_child_after_500_connections(procs):
    proc, port = start(procs, "fork", "--echo", "-k", "--backlog", "256")
    StderrCollector(proc)
    def batch(i):
        for j in range(25):
            payload = b"%d.%d" % (i, j)
            if exchange("127.0.0.1", port, payload) != payload:
                return False
        return True
    assert concurrently(20, batch) == [True] * 20  # 500 connections, 20 at a time
    # A child that has not exited yet is no zombie either: wait for no child at all.
    assert wait_until(lambda: children_of(proc.pid) == {}), children_of(proc.pid)
    assert proc.p.poll() is None


# --- must show 4: exec and the forwarder, relay -----------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_exec_and_sh_exec_serve_each_connection(procs, model):
    proc, port = start(procs, model, "-k", "--sh-exec", 'echo "peer $NETTOOL_PEER_PORT"; cat')
    StderrCollector(proc)

    def client(i):
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            me = s.getsockname()[1]
            send_all_then_shut(s, b"line %d\n" % i)
            return recv_to_eof(s) == b"peer %d\nline %d\n" % (me, i)
    assert concurrently(20, client) == [True] * 20
    assert exchange("127.0.0.1", port).startswith(b"peer ")
    proc2, port2 = start(procs, model, "-k", "--exec", "cat -n")
    StderrCollector(proc2)
    assert exchange("127.0.0.1", port2, b"a\nb\n") == b"     1\ta\n     2\tb\n"
    for p in (proc, proc2):  # every program reaped: nothing left below either server
        assert wait_until(lambda: descendants_of(p.pid) == set()), descendants_of(p.pid)


@pytest.mark.parametrize("model", MODELS)
def test_send_file_gives_every_client_the_whole_file(procs, tmp_path, model):
    content = os.urandom(3 * 1024 * 1024 + 17)  # more than one sendfile call, from offset 0
    path = tmp_path / "file.bin"
    path.write_bytes(content)
    proc, port = start(procs, model, "-k", "--send-file", str(path))
    StderrCollector(proc)
    assert concurrently(8, lambda i: exchange("127.0.0.1", port) == content) == [True] * 8


@pytest.mark.parametrize("model", MODELS)
def test_forwarder_with_send_proxy_v1_reaches_a_python_target(procs, model):
    backend = Server(proxy_reading_target, clients=10)
    proc, port = start(procs, model, "-k", "--to", f"127.0.0.1:{backend.port}",
                       "--send-proxy", "v1")
    errors = StderrCollector(proc)
    mine = []

    def client(i):
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            mine.append(s.getsockname())
            send_all_then_shut(s, b"payload %d" % i)
            return recv_to_eof(s) == b"ok"
    # Sequential: the Python target serves one client at a time.
    assert [client(i) for i in range(10)] == [True] * 10
    backend.join()
    assert [r[0] for r in backend.received] == [(m[0], m[1]) for m in mine]
    assert all(r[1] == ("127.0.0.1", port) for r in backend.received)
    assert [r[2] for r in backend.received] == [b"payload %d" % i for i in range(10)]
    proc.signal(signal.SIGTERM)
    closes = [e for e in errors.lines() if e["event"] == "close"]
    assert len(closes) == 10
    assert all(e["target"] == {"address": "127.0.0.1", "port": backend.port} for e in closes)


@pytest.mark.parametrize("model", MODELS)
def test_accept_proxy_applies_deny_to_the_carried_address(procs, model):
    proc, port = start(procs, model, "-k", "--greet", "--accept-proxy", "--deny",
                       "203.0.113.0/24")
    errors = StderrCollector(proc)
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        s.sendall(v1_header("203.0.113.9", 4000))
        assert recv_all(s) == b""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        s.sendall(v1_header("198.51.100.7", 4001))
        assert recv_all(s) == GREETING
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")  # no header: closed with the reason
        try:
            assert recv_all(s) == b""
        except ConnectionResetError:
            pass  # closed with the request unread: a reset, as with --model event
    proc.signal(signal.SIGTERM)
    events = errors.lines()
    assert [e["peer"] for e in events if e["event"] == "denied"] == [
        {"address": "203.0.113.9", "port": 4000}]
    assert [e["peer"] for e in events if e["event"] == "close"] == [
        {"address": "198.51.100.7", "port": 4001}]
    assert any("PROXY" in e["message"] for e in events if e["event"] == "warning")


@pytest.mark.parametrize("model", MODELS)
def test_idle_timeout_and_allow_apply_in_each_thread_or_process(procs, model):
    proc, port = start(procs, model, "-k", "--echo", "--idle-timeout", "300ms",
                       "--allow", "127.0.0.0/8")
    StderrCollector(proc)
    with connect_tcp("127.0.0.1", port) as s:
        s.sendall(b"x")
        assert s.recv(10) == b"x"
        quiet = time.monotonic()
        assert recv_all(s) == b""
        assert 0.2 < time.monotonic() - quiet < 3.0
    proc2, port2 = start(procs, model, "-k", "--echo", "--allow", "10.0.0.0/8")
    errors = StderrCollector(proc2)
    with connect_tcp("127.0.0.1", port2) as s:
        assert recv_all(s) == b""
    proc2.signal(signal.SIGTERM)
    assert [e["event"] for e in errors.lines()][-1] == "denied"


@pytest.mark.parametrize("model", MODELS)
def test_relay_serves_its_one_client_in_a_thread_or_process(model):
    with RawServe("--model", model, "127.0.0.1:0", stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE) as server:
        out = StdoutCollector(server)
        server.p.stdin.write(b"from stdin\n")
        server.p.stdin.close()
        with connect_tcp("127.0.0.1", server.port) as s:
            send_all_then_shut(s, b"from the client\n")
            assert recv_all(s) == b"from stdin\n"
        assert server.wait() == 0
        assert out.join() == b"from the client\n"


@pytest.mark.parametrize("model", MODELS)
def test_relay_with_keep_open_is_refused(model):
    r = run("serve", "--model", model, "-k", "127.0.0.1:0")
    assert r.returncode == 2
    assert "one standard input and output" in r.stderr.decode()


@pytest.mark.parametrize("args, fragment", [
    (["--model", "fork", "-u", "--echo", "-k"], "UDP has no connections"),
    (["--model", "thread", "--workers", "2", "--echo", "-k"], "choose one of them"),
    (["--model", "coroutine", "--echo"], "coroutine"),
])
def test_model_misuse_is_a_usage_error(args, fragment):
    r = run("serve", *args, "127.0.0.1:0")
    assert r.returncode == 2
    assert fragment in r.stderr.decode()


# --- stopping ---------------------------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_sigterm_lets_open_connections_finish_within_the_grace(procs, model):
    proc, port = start(procs, model, "--echo", "-k")
    StderrCollector(proc)
    sigterm_with_echo_connections_held(proc, port, 6)
    assert proc.wait() == 0
    with pytest.raises(ConnectionRefusedError):
        connect_tcp("127.0.0.1", port)


@pytest.mark.parametrize("model", MODELS)
def test_sigterm_ends_connections_still_open_after_the_grace(procs, model):
    proc, port = start(procs, model, "--echo", "-k", "--grace", "300ms")
    StderrCollector(proc)
    held = [connect_tcp("127.0.0.1", port) for _ in range(5)]
    for s in held:
        s.sendall(b"x")
        assert s.recv(10) == b"x"
    below = descendants_of(proc.pid)
    assert len(below) == (5 if model == "fork" else 0)
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    for s in held:
        assert recv_all(s) == b""
        s.close()
    assert proc.wait() == 0
    assert time.monotonic() - started < DEADLINE / 2
    assert not any(alive(pid) for pid in below)


@pytest.mark.parametrize("model", MODELS)
def test_a_program_that_ignores_sigterm_is_killed_after_the_grace(procs, model):
    # The connection ends (the client leaves): the program's group gets SIGTERM, ignores it,
    # and is killed --grace later; then, with the server stopped mid-connection, the same.
    script = "trap '' TERM; echo $$; exec sleep 60 </dev/null >/dev/null"
    proc, port = start(procs, model, "-k", "--grace", "400ms", "--sh-exec", script)
    StderrCollector(proc)
    with connect_tcp("127.0.0.1", port) as s:
        program = int(s.recv(20).split()[0])
        assert alive(program)
    assert wait_until(lambda: not alive(program))
    assert wait_until(lambda: descendants_of(proc.pid) == set())
    s = connect_tcp("127.0.0.1", port)
    program = int(s.recv(20).split()[0])
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert time.monotonic() - started < DEADLINE / 2
    assert wait_until(lambda: not alive(program), timeout=3)
    s.close()


# --- hostile clients --------------------------------------------------------------------------

def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("model", MODELS)
def test_clients_that_vanish_or_reset_leave_the_server_serving(procs, model):
    proc, port = start(procs, model, "-k", "--echo", "--max-conns", "8")
    StderrCollector(proc)
    for i in range(60):
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        if i % 3 == 0:
            s.close()  # connect and vanish
        elif i % 3 == 1:
            reset(s)  # a reset before a byte
        else:
            s.sendall(b"half a messa")
            reset(s)  # a reset mid-way
    assert exchange("127.0.0.1", port, b"still here") == b"still here"
    assert wait_until(lambda: count_of(model, proc.pid) == 0)
    assert proc.p.poll() is None


@pytest.mark.parametrize("model", MODELS)
def test_out_of_descriptors_neither_spins_nor_dies(procs, model):
    if SANITIZED and model == "thread":
        # UBSan's vptr check reads an object's type through a pipe it opens (strace shows
        # pipe2 failing with EMFILE just before its report): with no descriptor left it
        # reports every type it has not cached as invalid, a false error in a new thread.
        pytest.skip("the sanitizer runtime needs a free descriptor for its vptr check")
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    proc, events = start_serve(procs, "--model", model, "--echo", "-k", "--backlog", "256",
                               "127.0.0.1:0", preexec_fn=limit)
    port = port_of(events)
    StderrCollector(proc)
    socks = connect_many(port, 120)
    for s in socks:
        s.sendall(b"?")
    calm_while_held_then_serves(proc, port, socks)
    assert proc.p.poll() is None


@pytest.mark.parametrize("model", MODELS)
def test_unix_listener_under_fork_and_thread_is_removed_at_stop(procs, tmp_path, model):
    path = str(tmp_path / "m.sock")
    proc, _ = start_serve(procs, "--model", model, "--greet", "-k", "unix:" + path)
    StderrCollector(proc)
    unix_greetings_then_sigterm(proc, path, 10, GREETING)


# --- without -k, socket activation ------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_without_keep_open_the_one_connection_is_the_exit_status(procs, model):
    proc, port = start(procs, model, "--greet")
    assert exchange("127.0.0.1", port) == GREETING
    assert proc.wait() == 0
    # A forward that no target takes: the child's failure is the server's exit status (4),
    # said once.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    target = closed.getsockname()[1]
    proc, port = start(procs, model, "--to", f"127.0.0.1:{target}")
    try:
        with connect_tcp("127.0.0.1", port) as s:
            assert recv_all(s) == b""
    except ConnectionResetError:
        pass  # the client of a failed forward is reset (even before connect() has returned)
    assert proc.wait() == 4
    events = json_lines(proc.rest_of_stderr(), only_json=True)
    errors = [e for e in events if e["event"] in ("error", "warning")]
    assert len(errors) == 1 and errors[0]["event"] == "error", errors
    assert "no target took the connection" in errors[0]["message"]
    closed.close()


@pytest.mark.parametrize("model", MODELS)
def test_a_passed_socket_is_served_and_children_do_not_keep_it(procs, model):
    from test_serve_systemd import with_passed_socket
    passed = socket.create_server(("127.0.0.1", 0))
    port = passed.getsockname()[1]
    argv, kwargs = with_passed_socket(passed, "--model", model, "--greet", "-k", "--json",
                                      "127.0.0.1:1")
    proc = procs(argv, **kwargs)
    passed.close()  # serve holds the only copy now
    assert proc.wait_event("listening")["local"] == {"address": "127.0.0.1", "port": port}
    StderrCollector(proc)
    assert concurrently(10, lambda i: exchange("127.0.0.1", port)) == [GREETING] * 10
    held = connect_tcp("127.0.0.1", port)  # a child (or thread) still serving at the stop...
    held.sendall(b"talking")
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    with pytest.raises(ConnectionRefusedError):  # ...kept no copy of the listening socket
        connect_tcp("127.0.0.1", port)
    held.close()


@pytest.mark.parametrize("model", MODELS)
def test_text_lines_from_many_children_never_interleave(model):
    server = subprocess.Popen([NETTOOL, "serve", "--model", model, "-k", "-v", "--echo",
                               "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = server.stderr.readline().decode()
        assert first.startswith("listening on 127.0.0.1:")
        port = int(first.strip().rsplit(":", 1)[1])
        assert concurrently(40, lambda i: exchange("127.0.0.1", port, b"%d" % i)) == \
            [b"%d" % i for i in range(40)]
        server.send_signal(signal.SIGTERM)
        _, out = server.communicate(timeout=DEADLINE)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    lines = out.decode().splitlines()
    assert sum(line.startswith("connection from 127.0.0.1:") for line in lines) == 40
    closed = [line for line in lines if line.startswith("closed 127.0.0.1:")]
    assert len(closed) == 40
    assert all(line.endswith(" s") and "bytes in" in line for line in closed)
