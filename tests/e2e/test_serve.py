"""nettool serve against real peers: Python sockets, OpenBSD nc, children, signals."""
import os
import pty
import random
import resource
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import DEADLINE, NETTOOL, connect_tcp, json_lines, recv_all, run
from connect_helpers import (PipeReader, big_payload_file, file_sha256, live_processes, reset,
                             send_file, wait_until)
from serve_helpers import (RawServe, StdoutCollector, connect_many, exchange, port_of,
                           read_events_until_exit, read_json_line, start_serve, children_of)

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
    for _ in range(5):
        proc.wait_event("close")
    # Every child has exited by itself; reaped, it is no child at all (a zombie is one still).
    # A child not yet exited is no zombie yet either, so "no zombies" alone would pass early.
    end = time.monotonic() + DEADLINE
    while children_of(proc.pid) and time.monotonic() < end:
        time.sleep(0.02)
    assert children_of(proc.pid) == {}


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
    except OSError:  # closed at once: the send or the shutdown (ENOTCONN) may meet the reset
        pass
    assert proc.wait_event("denied")["peer"]["address"] == "127.0.0.1"


def test_descriptor_exhaustion_sheds_and_keeps_serving(procs):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc, events = start_serve(procs, "--echo", "-k", "127.0.0.1:0", preexec_fn=limit)
    port = port_of(events)
    socks = connect_many(port, 200)
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
            assert exchange("127.0.0.1", port_of([listening]), payload) == b""
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


# --- half-close in each direction, resets (nettool-serve(1) DATA TRANSFER) -------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """50 MiB of random bytes in a file, and their sha256."""
    return big_payload_file(tmp_path_factory.mktemp("big"))


def test_nc_N_delivers_50_mib_to_serve_whose_stdin_is_empty(tmp_path, big):
    nc = shutil.which("nc")
    if nc is None:
        pytest.skip("OpenBSD nc is not installed")
    path, digest = big
    out = tmp_path / "out.bin"
    with open(out, "wb") as sink, RawServe("127.0.0.1:0", stdout=sink) as serve:
        with open(path, "rb") as stdin:
            r = subprocess.run([nc, "-N", "127.0.0.1", str(serve.port)], stdin=stdin,
                               capture_output=True, timeout=DEADLINE)
        assert r.returncode == 0, r.stderr
        assert serve.wait() == 0, serve.stderr_text()
    assert file_sha256(out) == digest


def test_client_fin_reaches_a_stdout_reader_within_a_second_while_stdin_stays_open(big):
    path, digest = big
    with RawServe("127.0.0.1:0", stdin=subprocess.PIPE, stdout=subprocess.PIPE) as serve:
        reader = PipeReader(serve.p.stdout)
        with connect_tcp("127.0.0.1", serve.port) as s:
            send_file(s, path)
            s.shutdown(socket.SHUT_WR)
            fin_at = time.monotonic()
            assert reader.join() == digest  # EOF, though serve's stdin is still open
            delay = reader.eof_at - fin_at
            print(f"client FIN -> EOF at serve's stdout reader: {delay * 1000:.1f} ms")
            assert delay < 1.0
            assert serve.p.poll() is None  # still sending: stdin has not ended
            serve.p.stdin.write(b"bye\n")
            serve.p.stdin.close()
            assert recv_all(s) == b"bye\n"
        assert serve.wait() == 0, serve.stderr_text()


def test_client_reset_before_its_fin_exits_4(procs):
    with RawServe("127.0.0.1:0", stdin=subprocess.PIPE, stdout=subprocess.PIPE) as serve:
        reader = PipeReader(serve.p.stdout)
        s = connect_tcp("127.0.0.1", serve.port)
        s.sendall(b"partial")
        assert reader.wait_for(7) == 7
        reset(s)
        assert serve.wait() == 4
        err = serve.stderr_text()
        reader.join()
    assert bytes(reader.head) == b"partial"
    # Under --json the failure is the one error event.
    errors = [e for e in json_lines(err, only_json=True) if e["event"] == "error"]
    assert len(errors) == 1 and errors[0]["exit"] == 4, err
    assert "reset by peer" in errors[0]["message"], err


def test_client_reset_after_its_fin_exits_0():
    with RawServe("127.0.0.1:0", stdin=subprocess.PIPE, stdout=subprocess.PIPE) as serve:
        reader = PipeReader(serve.p.stdout)
        s = connect_tcp("127.0.0.1", serve.port)
        s.sendall(b"all of it\n")
        s.shutdown(socket.SHUT_WR)
        reader.join()  # its end reached stdout
        reset(s)  # stdin is still open and silent: only the reset ends the connection
        assert serve.wait() == 0, serve.stderr_text()
    assert bytes(reader.head) == b"all of it\n"


def test_client_reset_while_serve_sends_exits_4(big):
    path, _ = big
    with open(path, "rb") as src, RawServe("127.0.0.1:0", stdin=src) as serve:
        s = connect_tcp("127.0.0.1", serve.port)
        got = 0
        while got < (1 << 20):
            got += len(s.recv(1 << 16))
        reset(s)
        assert serve.wait() == 4
        assert "reset by peer" in serve.stderr_text()


def test_stdin_on_a_terminal_ends_with_the_clients_fin():
    master, slave = pty.openpty()
    try:
        with RawServe("127.0.0.1:0", stdin=slave, stdout=subprocess.PIPE) as serve:
            with connect_tcp("127.0.0.1", serve.port) as s:
                s.sendall(b"hi\n")
                s.shutdown(socket.SHUT_WR)
                assert serve.wait() == 0, serve.stderr_text()
                assert serve.p.stdout.read() == b"hi\n"
    finally:
        os.close(master)
        os.close(slave)


def test_unix_client_that_closes_completely_ends_the_relay(tmp_path):
    # Unix sockets, unlike TCP, tell a full close from a half-close: no write is needed.
    path = tmp_path / "s.sock"
    with RawServe(f"unix:{path}", stdin=subprocess.PIPE, stdout=subprocess.PIPE) as serve:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(path))
            s.sendall(b"x")
        assert serve.wait() == 0, serve.stderr_text()
        assert serve.p.stdout.read() == b"x"


def test_closed_stdout_is_refused_before_listening():
    r = subprocess.run([NETTOOL, "serve", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=DEADLINE, preexec_fn=lambda: os.close(1))
    assert r.returncode == 3, r.stderr
    assert b"standard output is closed" in r.stderr and b"listening" not in r.stderr


def test_keep_open_relay_stops_when_stdout_is_gone():
    # stdout is shared by every client: once its reader has left, nobody can be served.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with RawServe("-k", "127.0.0.1:0", stdout=write_end) as serve:
            with connect_tcp("127.0.0.1", serve.port) as s:
                try:
                    s.sendall(b"x" * 65536)
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass  # reset by the server on its way out
                assert serve.wait() == 3
                err = serve.stderr_text()
    finally:
        os.close(write_end)
    assert "standard output" in err and "broken pipe" in err


def test_echo_client_that_never_reads_holds_up_nobody(procs):
    _, events = start_serve(procs, "--echo", "-k", "127.0.0.1:0")
    port = port_of(events)
    hog = connect_tcp("127.0.0.1", port)
    hog.setblocking(False)
    sent = 0
    for _ in range(10000):  # until its buffers and ours are full
        try:
            sent += hog.send(b"z" * 65536)
        except BlockingIOError:
            break
    assert sent > 0
    assert exchange("127.0.0.1", port, b"still served") == b"still served"
    hog.close()


# --- process groups of --exec / --sh-exec children ----------------------------------------------

@pytest.fixture
def mark():
    """A sleep duration no other process has on its command line: the marker of one test's
    children. Whatever still carries it afterwards (a failed test) is killed by pid; tests
    ask for it before `procs`, so that their servers are stopped before the sweep."""
    marker = f"{3000 + os.getpid() % 1000}.{random.randint(100000, 999999)}"
    yield marker
    for pid in live_processes(marker=marker, exclude=[os.getpid()]):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def recv_line(sock):
    sock.settimeout(DEADLINE)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, f"closed before a line; so far {data!r}"
        data += chunk
    return data.decode().strip()


def test_reset_clients_leave_no_process_behind_and_free_their_slot(mark, procs):
    # The whole group ignores SIGTERM: only the SIGKILL after --grace ends it.
    command = f'echo $$; trap "" TERM; sleep {mark} & sleep {mark}'
    proc, events = start_serve(procs, "-k", "--max-conns", "1", "--grace", "1s", "--sh-exec",
                               command, "127.0.0.1:0")
    port = port_of(events)
    first = connect_tcp("127.0.0.1", port)
    group = int(recv_line(first))
    assert wait_until(lambda: len(live_processes(pgid=group)) == 3)  # sh and two sleeps
    second = connect_tcp("127.0.0.1", port)  # waits in the backlog: --max-conns 1
    reset(first)
    reset_at = time.monotonic()
    second_group = int(recv_line(second))  # served: the slot was freed
    freed = time.monotonic() - reset_at
    assert wait_until(lambda: not live_processes(pgid=group))
    gone = time.monotonic() - reset_at
    print(f"reset client: slot free after {freed * 1000:.0f} ms, group gone after "
          f"{gone * 1000:.0f} ms (--grace 1s)")
    assert freed < 1.0 <= gone + 0.05  # killed at the end of the grace, not before
    assert len(live_processes(pgid=second_group)) == 3
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert live_processes(marker=mark) == [] and live_processes(pgid=second_group) == []
    second.close()


def test_exec_child_of_a_reset_client_is_ended_at_once(mark, procs):
    proc, events = start_serve(procs, "-k", "--max-conns", "1", "--grace", "1s", "--exec",
                               f"sleep {mark}", "127.0.0.1:0")
    port = port_of(events)
    for _ in range(3):
        s = connect_tcp("127.0.0.1", port)
        proc.wait_event("connection")
        assert wait_until(lambda: len(live_processes(marker=mark, exclude=[proc.pid])) == 1)
        reset(s)
        # SIGTERM, no grace needed
        assert wait_until(lambda: not live_processes(marker=mark, exclude=[proc.pid]))
    assert proc.p.poll() is None


def test_sigterm_ends_every_group_after_the_grace(mark, procs):
    command = f'echo $$; trap "" TERM; sleep {mark} & sleep {mark}'
    proc, events = start_serve(procs, "-k", "--grace", "1s", "--sh-exec", command,
                               "127.0.0.1:0")
    port = port_of(events)
    clients = [connect_tcp("127.0.0.1", port) for _ in range(2)]
    groups = [int(recv_line(c)) for c in clients]
    assert wait_until(lambda: len(live_processes(marker=mark, exclude=[proc.pid])) == 6)
    start = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    took = time.monotonic() - start
    print(f"SIGTERM -> exit with TERM-proof groups: {took:.3f} s (--grace 1s + 1 s)")
    assert wait_until(lambda: not live_processes(marker=mark), timeout=1.0)
    assert all(live_processes(pgid=g) == [] for g in groups)
    assert took < 1 + 1 + DEADLINE / 2
    for c in clients:
        c.close()


def test_second_sigint_kills_every_group_at_once(mark, procs):
    command = f'echo $$; trap "" TERM INT; sleep {mark} & sleep {mark}'
    proc, events = start_serve(procs, "-k", "--sh-exec", command, "127.0.0.1:0")
    client = connect_tcp("127.0.0.1", port_of(events))
    group = int(recv_line(client))
    assert wait_until(lambda: len(live_processes(pgid=group)) == 3)
    proc.signal(signal.SIGINT)  # a graceful stop: the connection may finish for 5 s
    assert "stopping" in proc.wait_event("note")["message"]  # the first one was handled
    proc.signal(signal.SIGINT)  # "now"
    assert proc.wait() == -signal.SIGINT
    assert wait_until(lambda: not live_processes(pgid=group), timeout=2.0)
    client.close()


def test_what_a_child_leaves_behind_ends_with_its_connection(mark, procs):
    command = f"sleep {mark} </dev/null >/dev/null 2>&1 & echo started"
    proc, events = start_serve(procs, "-k", "--grace", "1s", "--sh-exec", command, "127.0.0.1:0")
    assert exchange("127.0.0.1", port_of(events), b"") == b"started\n"
    proc.wait_event("close")
    assert wait_until(lambda: not live_processes(marker=mark, exclude=[proc.pid]), timeout=3.0)
    assert proc.p.poll() is None
