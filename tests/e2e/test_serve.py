"""nettool serve against real peers: Python sockets, OpenBSD nc, children, signals."""
import os
import resource
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import DEADLINE, NETTOOL, connect_tcp, recv_all, run
from serve_helpers import (StdoutCollector, exchange, port_of, read_events_until_exit,
                           read_json_line, start_serve, zombie_children)

GREETING = b"Thank you for connecting!\n"


# --- listening: where and how ---------------------------------------------------------------

def test_default_greet_on_localhost_listens_on_both_families(procs):
    # `--greet 0`: the 0 is the endpoint, not the greeting text.
    proc, events = start_serve(procs, "--greet", "0", "-k", listeners=2)
    assert {e["local"]["address"] for e in events} == {"127.0.0.1", "::1"}
    assert events[0]["local"]["port"] == events[1]["local"]["port"] != 0
    assert all(e["transport"] == "tcp" for e in events)
    port = events[0]["local"]["port"]
    # The essay's client: connect, recv(1024), close.
    for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(DEADLINE)
            s.connect((host, port))
            assert s.recv(1024) == GREETING
    conn = proc.wait_event("connection")
    assert conn["peer"]["address"] in ("127.0.0.1", "::1") and conn["peer"]["port"] > 0
    assert conn["peer"]["port"] != port  # the peer's own port, not the server's
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


def test_greet_with_text_and_text_mode_lines(procs):
    proc = procs([NETTOOL, "serve", "--greet=hello there", "127.0.0.1:0"])
    line = proc.read_stderr_line()
    assert line.startswith("listening on 127.0.0.1:")
    port = int(line.rsplit(":", 1)[1])
    assert exchange("127.0.0.1", port, half_close=False) == b"hello there"
    assert proc.read_stderr_line().startswith("connection from 127.0.0.1:")
    assert proc.wait() == 0  # without -k: one client, then exit 0


def test_bare_port_binds_loopback_only(procs):
    _, events = start_serve(procs, "--echo", "0", listeners=2)
    assert {e["local"]["address"] for e in events} == {"127.0.0.1", "::1"}


def test_star_is_dual_stack_and_explicit_any_addresses(procs):
    proc, events = start_serve(procs, "--echo", "-k", "*:0")
    assert len(events) == 1 and events[0]["local"]["address"] == "::"
    port = port_of(events)
    assert exchange("127.0.0.1", port, b"v4") == b"v4"
    assert exchange("::1", port, b"v6") == b"v6"
    _, events = start_serve(procs, "--echo", "0.0.0.0:0")
    assert events[0]["local"]["address"] == "0.0.0.0"
    _, events = start_serve(procs, "--echo", "[::]:0")
    assert events[0]["local"]["address"] == "::"


def test_port_held_by_python_listener_names_its_pid(procs):
    holder = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import socket,sys,time\n"
         "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
         "print(s.getsockname()[1], flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE)
    try:
        port = int(holder.stdout.readline())
        r = run("serve", "--echo", f"127.0.0.1:{port}")
        assert r.returncode == 4
        err = r.stderr.decode()
        assert "in use" in err and str(holder.pid) in err
        assert len(err.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()


def test_low_port_as_unprivileged_user_is_explained():
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to drop privileges")
    r = subprocess.run([setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "--inh-caps=-all", NETTOOL, "serve", "--echo", "127.0.0.1:1"],
                       capture_output=True, timeout=DEADLINE)
    assert r.returncode == 4
    err = r.stderr.decode()
    assert "ip_unprivileged_port_start" in err and "CAP_NET_BIND_SERVICE" in err


def test_reuse_port_lets_two_servers_share_a_port(procs):
    _, events = start_serve(procs, "--echo", "--reuse-port", "127.0.0.1:0")
    port = port_of(events)
    _, again = start_serve(procs, "--echo", "--reuse-port", f"127.0.0.1:{port}")
    assert port_of(again) == port
    r = run("serve", "--echo", f"127.0.0.1:{port}")
    assert r.returncode == 4 and "in use" in r.stderr.decode()


def test_backlog_reaches_listen(procs):
    _, events = start_serve(procs, "--echo", "--backlog", "7", "127.0.0.1:0")
    port = port_of(events)
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                         timeout=DEADLINE).stdout.split()
    assert out[0] == "LISTEN" and out[2] == "7"  # Send-Q of a listener is its backlog


def test_restart_after_ctrl_c_binds_at_once(procs):
    proc, events = start_serve(procs, "--greet", "-k", "127.0.0.1:0")
    port = port_of(events)
    for _ in range(5):  # the server closes first: its side of each connection is in TIME_WAIT
        assert exchange("127.0.0.1", port, half_close=False) == GREETING
    proc.signal(signal.SIGINT)
    assert proc.wait() == 130
    _, again = start_serve(procs, "--greet", f"127.0.0.1:{port}")
    assert port_of(again) == port


# --- modes ----------------------------------------------------------------------------------

def test_relay_moves_8_mib_exactly_to_stdout(procs):
    proc, events = start_serve(procs, "127.0.0.1:0")
    out = StdoutCollector(proc)
    payload = os.urandom(8 << 20)
    assert exchange("127.0.0.1", port_of(events), payload) == b""  # stdin is /dev/null
    assert proc.wait() == 0
    assert out.join() == payload


def test_relay_half_close_reply_from_stdin_arrives_later(procs):
    proc, events = start_serve(procs, "127.0.0.1:0", stdin=subprocess.PIPE)
    out = StdoutCollector(proc)
    with connect_tcp("127.0.0.1", port_of(events)) as s:
        s.sendall(b"question\n")
        s.shutdown(socket.SHUT_WR)
        assert out.wait_for(9) == b"question\n"
        proc.p.stdin.write(b"answer\n")
        proc.p.stdin.close()
        assert recv_all(s) == b"answer\n"
    assert proc.wait() == 0


def test_openbsd_nc_interoperates_both_ways(procs):
    nc = shutil.which("nc")
    if nc is None:
        pytest.skip("OpenBSD nc is not installed")
    proc, events = start_serve(procs, "127.0.0.1:0", stdin=subprocess.PIPE)
    out = StdoutCollector(proc)
    proc.p.stdin.write(b"from serve\n")
    proc.p.stdin.close()
    r = subprocess.run([nc, "-N", "127.0.0.1", str(port_of(events))], input=b"from nc\n",
                       capture_output=True, timeout=DEADLINE)
    assert r.returncode == 0
    assert r.stdout == b"from serve\n"
    assert proc.wait() == 0
    assert out.join() == b"from nc\n"


def test_echo_half_close(procs):
    _, events = start_serve(procs, "--echo", "127.0.0.1:0")
    assert exchange("127.0.0.1", port_of(events), b"ping" * 10000) == b"ping" * 10000


def test_echo_serves_100_clients_at_once(procs):
    proc, events = start_serve(procs, "--echo", "-k", "127.0.0.1:0")
    port = port_of(events)
    socks = []
    for i in range(100):
        s = connect_tcp("127.0.0.1", port)
        s.sendall(b"client %d\n" % i)
        socks.append(s)
    for i, s in enumerate(socks):  # all open at once, each answered
        s.settimeout(DEADLINE)
        assert s.recv(100) == b"client %d\n" % i
    for s in socks:
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b""
        s.close()
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    closes = [e for e in read_events_until_exit(proc) if e["event"] == "close"]
    assert len(closes) == 100 and all(e["bytes_in"] == e["bytes_out"] > 0 for e in closes)


def test_send_file_sends_the_file(procs, tmp_path):
    f = tmp_path / "data.bin"
    payload = os.urandom(3 << 20)
    f.write_bytes(payload)
    proc, events = start_serve(procs, "--send-file", str(f), "-k", "127.0.0.1:0")
    for _ in range(2):
        assert exchange("127.0.0.1", port_of(events), half_close=False) == payload


def test_send_file_missing_is_a_file_error():
    r = run("serve", "--send-file", "/nonexistent/file", "127.0.0.1:0")
    assert r.returncode == 3
    assert "/nonexistent/file" in r.stderr.decode()


def test_sh_exec_reply_after_half_close_arrives(procs):
    _, events = start_serve(procs, "--sh-exec", "cat >/dev/null; sleep 2; echo reply", "127.0.0.1:0")
    assert exchange("127.0.0.1", port_of(events), b"x" * 100000) == b"reply\n"


def test_exec_gets_peer_address_and_children_are_reaped(procs):
    proc, events = start_serve(procs, "--exec", "printenv NETTOOL_PEER_ADDR NETTOOL_PEER_PORT", "-k",
                               "127.0.0.1:0")
    port = port_of(events)
    for _ in range(5):
        with connect_tcp("127.0.0.1", port) as s:
            local_port = s.getsockname()[1]
            assert recv_all(s) == b"127.0.0.1\n%d\n" % local_port
    end = time.monotonic() + DEADLINE
    while zombie_children(proc.pid) and time.monotonic() < end:
        time.sleep(0.05)
    assert zombie_children(proc.pid) == []


def test_exec_cat_wired_both_ways(procs):
    _, events = start_serve(procs, "--exec", "cat", "127.0.0.1:0")
    payload = os.urandom(1 << 20)
    assert exchange("127.0.0.1", port_of(events), payload) == payload


def test_exec_unknown_program_is_usage_error():
    r = run("serve", "--exec", "no-such-program-xyz", "127.0.0.1:0")
    assert r.returncode == 2 and "no-such-program-xyz" in r.stderr.decode()


# --- limits, access, timeouts ---------------------------------------------------------------

def test_max_conns_makes_the_next_client_wait(procs):
    _, events = start_serve(procs, "--echo", "-k", "--max-conns", "1", "127.0.0.1:0")
    port = port_of(events)
    first = connect_tcp("127.0.0.1", port)
    first.sendall(b"a")
    first.settimeout(DEADLINE)
    assert first.recv(10) == b"a"
    second = connect_tcp("127.0.0.1", port)  # completes in the backlog, not served yet
    second.sendall(b"b")
    second.settimeout(0.5)
    with pytest.raises(socket.timeout):
        second.recv(10)
    first.close()
    second.settimeout(DEADLINE)
    assert second.recv(10) == b"b"
    second.close()


def test_idle_timeout_closes_a_silent_connection(procs):
    proc, events = start_serve(procs, "--echo", "-k", "--idle-timeout", "300ms", "127.0.0.1:0")
    with connect_tcp("127.0.0.1", port_of(events)) as s:
        start = time.monotonic()
        assert recv_all(s) == b""  # the server closed it
        assert 0.25 < time.monotonic() - start < DEADLINE
    close = proc.wait_event("close")
    assert close["bytes_in"] == 0


def test_deny_closes_at_once_and_reports(procs):
    proc, events = start_serve(procs, "--echo", "-k", "--deny", "127.0.0.1/32", "*:0")
    port = port_of(events)
    with connect_tcp("127.0.0.1", port) as s:  # IPv4-mapped on the dual-stack socket
        s.settimeout(DEADLINE)
        try:
            s.sendall(b"x")
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
    denied = proc.wait_event("denied")
    assert denied["peer"]["address"] == "127.0.0.1"
    assert exchange("::1", port, b"v6 ok") == b"v6 ok"  # not in the denied block


def test_allow_admits_only_its_block(procs):
    proc, events = start_serve(procs, "--echo", "-k", "--allow", "::1", "0", listeners=2)
    port = port_of(events)
    assert exchange("::1", port, b"in") == b"in"
    try:
        assert exchange("127.0.0.1", port, b"out") == b""
    except (ConnectionResetError, OSError):  # ENOTCONN when the reset beats our shutdown()
        pass
    assert proc.wait_event("denied")["peer"]["address"] == "127.0.0.1"


def test_descriptor_exhaustion_sheds_and_keeps_serving(procs):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc, events = start_serve(procs, "--echo", "-k", "127.0.0.1:0", preexec_fn=limit)
    port = port_of(events)
    socks = []
    for _ in range(200):
        s = socket.socket()
        s.settimeout(DEADLINE)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    warning = proc.wait_event("warning")  # one connection's problem, not the server's
    assert "file descriptors" in warning["message"]
    for s in socks:
        s.close()
    # Still alive and serving correctly once descriptors are free again.
    end = time.monotonic() + DEADLINE
    while True:
        try:
            assert exchange("127.0.0.1", port, b"after the storm") == b"after the storm"
            break
        except (ConnectionResetError, BrokenPipeError):
            assert time.monotonic() < end
            time.sleep(0.05)
    assert proc.p.poll() is None


# --- signals --------------------------------------------------------------------------------

def test_sigterm_lets_open_connections_finish_then_exits_0(procs):
    proc, events = start_serve(procs, "--sh-exec", "cat >/dev/null; sleep 1; echo done", "-k",
                               "127.0.0.1:0")
    port = port_of(events)
    s = connect_tcp("127.0.0.1", port)
    proc.wait_event("connection")
    proc.signal(signal.SIGTERM)
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"done\n"
    s.close()
    assert proc.wait() == 0
    with pytest.raises(ConnectionRefusedError):
        connect_tcp("127.0.0.1", port)


def test_sigint_exits_130(procs):
    proc, _ = start_serve(procs, "--echo", "-k", "127.0.0.1:0")
    proc.signal(signal.SIGINT)
    assert proc.wait() == 130


# --- Unix sockets ---------------------------------------------------------------------------

def test_unix_path_serves_and_is_removed_at_exit(procs, tmp_path):
    path = tmp_path / "s.sock"
    proc, events = start_serve(procs, "--greet", "-k", f"unix:{path}")
    assert events[0] == {"event": "listening", "transport": "unix", "local": {"path": str(path)}}
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(DEADLINE)
        s.connect(str(path))
        assert recv_all(s) == GREETING
    conn = proc.wait_event("connection")
    assert conn["transport"] == "unix" and conn["peer"]["pid"] == os.getpid()
    assert conn["local"] == {"path": str(path)}
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert not path.exists()


def test_unix_abstract_name(procs):
    name = f"nettool-test-{os.getpid()}"
    _, events = start_serve(procs, "--echo", f"unix:@{name}")
    assert events[0]["local"] == {"path": "@" + name}
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(DEADLINE)
        s.connect("\0" + name)
        s.sendall(b"abstract")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"abstract"


def test_unix_regular_file_is_never_touched(tmp_path):
    path = tmp_path / "not-a-socket"
    path.write_bytes(b"precious")
    r = run("serve", "--echo", f"unix:{path}")
    assert r.returncode == 3
    assert str(path) in r.stderr.decode() and "not a socket" in r.stderr.decode()
    assert path.read_bytes() == b"precious"


def test_unix_stale_socket_is_replaced(procs, tmp_path):
    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))  # bound, never listening, then closed: a leftover file
    dead.close()
    assert path.exists()
    _, events = start_serve(procs, "--echo", f"unix:{path}")
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(DEADLINE)
        s.connect(str(path))
        s.sendall(b"fresh")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"fresh"


def test_unix_live_listener_is_not_replaced(tmp_path):
    path = tmp_path / "live.sock"
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(path))
    live.listen()
    try:
        r = run("serve", "--echo", f"unix:{path}")
        assert r.returncode == 4
        assert "in use" in r.stderr.decode()
        live.settimeout(DEADLINE)
        with socket.socket(socket.AF_UNIX) as c:  # the live server still owns its path
            c.connect(str(path))
    finally:
        live.close()


# --- UDP ------------------------------------------------------------------------------------

def udp_client(family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(DEADLINE)
    return s


def test_udp_echo_answers_three_peers(procs):
    proc, events = start_serve(procs, "-u", "--echo", "-k", "127.0.0.1:0")
    assert events[0]["transport"] == "udp"
    port = port_of(events)
    peers = [udp_client() for _ in range(3)]
    for i, p in enumerate(peers):
        p.sendto(b"datagram %d" % i, ("127.0.0.1", port))
    for i, p in enumerate(peers):
        data, _ = p.recvfrom(100)
        assert data == b"datagram %d" % i
        p.close()
    conns = [proc.wait_event("connection") for _ in range(3)]
    assert len({c["peer"]["port"] for c in conns}) == 3


def test_udp_greet_replies_to_the_sender(procs):
    proc, events = start_serve(procs, "--greet", "udp://127.0.0.1:0")
    with udp_client() as p:
        p.sendto(b"hi", ("127.0.0.1", port_of(events)))
        assert p.recvfrom(100)[0] == GREETING
    assert proc.wait() == 0  # without -k: the one client was greeted


def test_udp_relay_datagrams_to_stdout_and_stdin_lines_to_last_peer(procs):
    proc, events = start_serve(procs, "-u", "127.0.0.1:0", stdin=subprocess.PIPE)
    out = StdoutCollector(proc)
    with udp_client() as p:
        p.sendto(b"to stdout\n", ("127.0.0.1", port_of(events)))
        assert out.wait_for(10) == b"to stdout\n"
        proc.p.stdin.write(b"line one\nline two\n")
        proc.p.stdin.flush()
        assert p.recvfrom(100)[0] == b"line one\n"
        assert p.recvfrom(100)[0] == b"line two\n"


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["host:port:x"], "endpoint"),
    (["70000"], "out of range"),
    (["--greet", "--echo", "0"], "greet"),
    (["--echo", "--exec", "cat", "0"], "exec"),
    (["--max-conns", "0", "0"], "--max-conns"),
    (["--max-conns=-3", "0"], "--max-conns"),
    (["--deny", "10.0.0.0/33", "0"], "10.0.0.0/33"),
    (["--allow", "not-an-address", "0"], "not-an-address"),
    (["--idle-timeout", "soon", "0"], "soon"),
])
def test_bad_input_is_usage_error_with_one_sentence(args, needle):
    r = run("serve", *args)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.startswith("nettool: error: ") and needle in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("mode", ["w", "a"])
def test_relay_to_a_regular_file(tmp_path, mode):
    # "w": spliced into the file; "a" (O_APPEND, which splice refuses): copied by a Pump.
    target = tmp_path / "out.bin"
    target.write_bytes(b"old:" if mode == "a" else b"")
    payload = os.urandom(2 << 20)
    with open(target, mode + "b") as out:
        proc = subprocess.Popen([NETTOOL, "serve", "127.0.0.1:0", "--json"], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.PIPE)
        try:
            listening = read_json_line(proc.stderr)
            assert exchange("127.0.0.1", listening["local"]["port"], payload) == b""
            assert proc.wait(timeout=DEADLINE) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()
    assert target.read_bytes() == (b"old:" if mode == "a" else b"") + payload


def test_relay_keep_open_serves_clients_one_at_a_time(procs):
    proc, events = start_serve(procs, "-k", "127.0.0.1:0")
    out = StdoutCollector(proc)
    port = port_of(events)
    first = connect_tcp("127.0.0.1", port)
    first.sendall(b"first\n")
    assert out.wait_for(6) == b"first\n"
    second = connect_tcp("127.0.0.1", port)  # waits in the backlog: stdin is one stream
    second.sendall(b"second\n")
    second.shutdown(socket.SHUT_WR)
    time.sleep(0.3)
    assert bytes(out.data) == b"first\n"
    first.shutdown(socket.SHUT_WR)
    assert recv_all(first) == b""
    first.close()
    assert out.wait_for(13) == b"first\nsecond\n"
    assert recv_all(second) == b""
    second.close()
