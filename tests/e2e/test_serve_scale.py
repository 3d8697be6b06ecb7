"""serve with many connections: --workers (SO_REUSEPORT listeners, a global --max-conns,
SIGTERM), memory per idle connection, deadlines that count from the last byte, greetings."""
import os
import resource
import signal
import socket
import threading
import time

import pytest

from conftest import DEADLINE, SANITIZED, connect_tcp, parse_json_line, recv_all, run
from connect_helpers import wait_until
from serve_helpers import (calm_while_held_then_serves, connect_many, exchange, port_of,
                           sigterm_with_echo_connections_held, start_serve,
                           unix_greetings_then_sigterm)

GREETING = b"Thank you for connecting!\n"


def listening_sockets(port):
    """How many TCP sockets listen on `port` (from /proc/net/tcp and tcp6: state 0A)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def wakeups_per_thread(pid):
    """{tid: voluntary context switches} of the process's threads: a worker blocked in
    epoll_wait wakes once for each connection it is given."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    out[int(tid)] = int(line.split()[1])
    return out


def drain_stderr(proc):
    """Reads the server's event lines away in a thread: hundreds of connections write more
    than a pipe holds, and a server blocked on a full stderr would serve nobody."""
    def run():
        while os.read(proc.p.stderr.fileno(), 1 << 16):
            pass
    threading.Thread(target=run, daemon=True).start()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


# --- --workers ------------------------------------------------------------------------------

def test_workers_each_listen_and_share_the_connections(procs):
    proc, events = start_serve(procs, "--greet", "-k", "--workers", "2", "127.0.0.1:0")
    port = port_of(events)
    assert len(events) == 1  # one listening event per address, not per worker
    assert listening_sockets(port) == 2  # one SO_REUSEPORT socket per worker
    assert wait_until(lambda: len(os.listdir(f"/proc/{proc.pid}/task")) == 2)
    drain_stderr(proc)
    before = wakeups_per_thread(proc.pid)
    for _ in range(400):
        assert exchange("127.0.0.1", port) == GREETING
    after = wakeups_per_thread(proc.pid)
    woken = sorted(after[tid] - before.get(tid, 0) for tid in after)
    # The kernel hashes each connection to one worker: both get a fair share.
    assert woken[0] >= 60, woken


def test_workers_serve_every_client_of_a_burst(procs):
    proc, events = start_serve(procs, "--echo", "-k", "--workers", "3", "--backlog", "512",
                               "127.0.0.1:0")
    port = port_of(events)
    drain_stderr(proc)
    results = []

    def client(i):
        payload = b"client %d\n" % i
        results.append(exchange("127.0.0.1", port, payload) == payload)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert results.count(True) == 200


def test_workers_sigterm_ends_every_worker_after_open_connections_finish(procs):
    proc, events = start_serve(procs, "--echo", "-k", "--workers", "4", "127.0.0.1:0")
    port = port_of(events)
    sigterm_with_echo_connections_held(proc, port, 8)  # spread over the workers by the kernel
    assert proc.wait() == 0
    assert listening_sockets(port) == 0
    with pytest.raises(ConnectionRefusedError):
        connect_tcp("127.0.0.1", port)


def test_workers_max_conns_counts_over_all_workers(procs):
    _, events = start_serve(procs, "--echo", "-k", "--workers", "3", "--max-conns", "2",
                            "127.0.0.1:0")
    port = port_of(events)
    first, second = connect_tcp("127.0.0.1", port), connect_tcp("127.0.0.1", port)
    for s in (first, second):
        s.sendall(b"x")
        assert s.recv(10) == b"x"
    # A third waits (whichever worker's queue it landed in) until one of the two closes.
    third = connect_tcp("127.0.0.1", port)
    third.sendall(b"3")
    third.settimeout(0.5)
    with pytest.raises(socket.timeout):
        third.recv(10)
    first.close()
    third.settimeout(DEADLINE)
    assert third.recv(10) == b"3"
    second.close()
    third.close()


def test_workers_udp_each_peer_is_answered(procs):
    _, events = start_serve(procs, "--echo", "-u", "-k", "--workers", "2", "127.0.0.1:0")
    port = port_of(events)
    for i in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(DEADLINE)
            s.sendto(b"datagram %d" % i, ("127.0.0.1", port))
            assert s.recv(100) == b"datagram %d" % i


def test_workers_out_of_descriptors_neither_spin_nor_die(procs):
    # A burst at once from the start: the workers' own descriptors (their event loops) are all
    # made before any accepts, so a worker that starts late still runs; the others shed new
    # clients without spinning on the listener that stays readable.
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc, events = start_serve(procs, "--echo", "-k", "--workers", "8", "127.0.0.1:0",
                               preexec_fn=limit)
    port = port_of(events)
    drain_stderr(proc)
    calm_while_held_then_serves(proc, port, connect_many(port, 150))
    assert proc.p.poll() is None


def test_workers_unix_share_one_socket(procs, tmp_path):
    path = str(tmp_path / "w.sock")
    proc, _ = start_serve(procs, "--greet", "-k", "--workers", "2", "unix:" + path)
    unix_greetings_then_sigterm(proc, path, 20, GREETING)


@pytest.mark.parametrize("args, needle", [
    (["--workers", "2", "--greet"], "add -k"),
    (["--workers", "2", "-k"], "the relay has one standard input"),
    (["--workers", "0", "-k", "--echo"], "--workers"),
])
def test_workers_misuse_is_a_usage_error(args, needle):
    r = run("serve", *args, "127.0.0.1:0")
    assert r.returncode == 2
    assert needle in r.stderr.decode()


# --- memory and time per connection ----------------------------------------------------------

@pytest.mark.skipif(SANITIZED, reason="ASan's allocator keeps freed memory in quarantine")
def test_idle_connections_cost_a_few_kib_each(procs):
    proc, events = start_serve(procs, "--echo", "-k", "--backlog", "1024", "127.0.0.1:0")
    port = port_of(events)
    drain_stderr(proc)
    warm = [connect_tcp("127.0.0.1", port) for _ in range(20)]
    for s in warm:  # each has moved bytes once: a buffer held past that would show
        s.sendall(b"warm")
        assert s.recv(10) == b"warm"
    before = rss_kib(proc.pid)
    held = []
    try:
        for i in range(500):
            s = connect_tcp("127.0.0.1", port)
            s.sendall(b"%d" % i)
            assert s.recv(10) == b"%d" % i
            held.append(s)
        growth = (rss_kib(proc.pid) - before) * 1024 / len(held)
        # Without buffers held by idle connections, what is left is bookkeeping (about
        # 1.3 KiB); one 64 KiB buffer each would make this 64 KiB.
        assert growth < 4096, f"{growth:.0f} bytes per idle connection"
        for i, s in enumerate(held):  # and every one still answers
            s.sendall(b"again")
            assert s.recv(10) == b"again"
    finally:
        for s in held + warm:
            s.close()


def test_idle_timeout_counts_from_the_last_byte(procs):
    proc, events = start_serve(procs, "--echo", "-k", "--idle-timeout", "400ms",
                               "127.0.0.1:0")
    port = port_of(events)
    s = connect_tcp("127.0.0.1", port)
    start = time.monotonic()
    for i in range(8):  # 1.2 s of talk, a byte every 150 ms: never idle for 400 ms
        s.sendall(b"%d" % i)
        assert s.recv(10) == b"%d" % i
        time.sleep(0.15)
    assert time.monotonic() - start > 1.0
    quiet = time.monotonic()
    assert recv_all(s) == b""  # then silence: closed about 400 ms after the last byte
    assert 0.2 < time.monotonic() - quiet < 2.0
    s.close()


def test_greeting_reaches_a_client_that_talks_first(procs):
    # Bytes the server never reads must not turn its close into a reset that destroys the
    # greeting: a client that sends first gets the greeting and a clean end of file.
    # The server is stopped while the clients connect and send, so their bytes are queued
    # before it accepts: a client that starts sending only after the close gets a reset by
    # design (nettool-serve(1)), and without the stop that would be a race with the scheduler.
    proc, events = start_serve(procs, "--greet", "-k", "127.0.0.1:0")
    port = port_of(events)
    drain_stderr(proc)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        clients = []
        for _ in range(20):  # the listen backlog holds them all
            s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 100)
            clients.append(s)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    for s in clients:
        with s:
            assert recv_all(s) == GREETING


def test_a_greeting_is_closed_before_the_next_waiting_client_is_accepted(procs):
    # Clients waiting together in the backlog: each one's greeting is followed at once by its
    # close, so the client reads the text and the end in one wake-up (closing them all after
    # the batch of accepts woke each client twice, at the server's cost).
    proc, events = start_serve(procs, "--greet", "-k", "127.0.0.1:0")
    port = port_of(events)
    proc.signal(signal.SIGSTOP)
    socks = []
    try:
        for _ in range(6):  # the kernel completes the handshakes while serve is stopped
            socks.append(connect_tcp("127.0.0.1", port))
    finally:
        proc.signal(signal.SIGCONT)
    try:
        order = [parse_json_line(proc.read_stderr_line())["event"] for _ in range(12)]
        assert order == ["connection", "close"] * 6
        for s in socks:
            assert recv_all(s) == GREETING
    finally:
        for s in socks:
            s.close()
