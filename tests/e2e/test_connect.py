"""nettool connect against real peers on loopback: Python servers (the essay's socket
module) and OpenBSD nc. Each test asserts what the peer received, not only what nettool
printed."""
import fcntl
import hashlib
import os
import pty
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import DEADLINE, NETTOOL, json_lines, nettool_argv, run
from connect_helpers import (BIG, PipeReader, Server, adjacent_open_and_closed_ports,
                             big_payload_file, black_hole, closed_port_socket, file_sha256,
                             free_port, ipv6_available, read_all_then_answer, recv_hashing,
                             recv_to_eof, reply_payload, reset, send_file, wait_listening)
from serve_helpers import RawServe


def one_error_line(r, code):
    assert r.returncode == code, (r.returncode, r.stderr)
    err = r.stderr.decode()
    assert err.startswith("nettool: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    return err


# --- the relay ---------------------------------------------------------------------------

def test_three_mib_upload_then_whole_answer(tmp_path):
    payload = os.urandom(3 << 20)
    src = tmp_path / "in.bin"
    src.write_bytes(payload)
    reply_size = 2 << 20
    server = Server(read_all_then_answer(reply_size))
    with open(src, "rb") as stdin:
        r = subprocess.run([NETTOOL, "connect", "127.0.0.1", str(server.port)], stdin=stdin,
                           capture_output=True, timeout=DEADLINE)
    server.join()
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""  # the relay is silent on stderr without -v
    assert server.received == [payload]
    expected = b"%d %s\n" % (len(payload), hashlib.sha256(payload).hexdigest().encode())
    assert r.stdout == expected + reply_payload(reply_size)


def test_stdin_from_a_pipe_is_binary_safe():
    payload = bytes(range(256)) * 4096 + b"\x00\r\n\xff"
    server = Server(read_all_then_answer(0))
    r = run("connect", f"127.0.0.1:{server.port}", input=payload)
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [payload]
    assert r.stdout.startswith(b"%d " % len(payload))


def test_stdin_dev_null_half_closes_at_once_and_reads_the_answer():
    server = Server(read_all_then_answer(100))
    r = subprocess.run([NETTOOL, "connect", f"127.0.0.1:{server.port}"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=DEADLINE)
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [b""]
    assert r.stdout.startswith(b"0 " + hashlib.sha256(b"").hexdigest().encode())


def test_peer_closing_first_ends_stdout_at_once_and_stdin_keeps_flowing(procs):
    got = []
    fin_sent = threading.Event()

    def greet_then_read(server, conn):
        conn.sendall(b"Thank you for connecting!\n")
        conn.shutdown(socket.SHUT_WR)
        fin_sent.set()
        got.append(recv_to_eof(conn))
    server = Server(greet_then_read)
    # stdin is a pipe that stays open: the FIN ends stdout only; the sending goes on.
    p = procs(nettool_argv("connect", "127.0.0.1", str(server.port)), stdin=subprocess.PIPE)
    assert p.p.stdout.read() == b"Thank you for connecting!\n"  # EOF while stdin is open
    assert fin_sent.is_set() and p.p.poll() is None
    p.p.stdin.write(b"still heard\n")
    p.p.stdin.close()
    assert p.wait() == 0
    server.join()
    assert got == [b"still heard\n"]


def test_stdin_from_a_terminal_and_its_flags_are_restored():
    master, slave = pty.openpty()
    try:
        before = fcntl.fcntl(slave, fcntl.F_GETFL)
        server = Server(read_all_then_answer(0))
        p = subprocess.Popen([NETTOOL, "connect", f"127.0.0.1:{server.port}"], stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.write(master, b"typed line\n\x04")  # ^D at the start of a line: EOF on a tty
        out, err = p.communicate(timeout=DEADLINE)
        server.join()
        assert p.returncode == 0, err
        assert server.received == [b"typed line\n"]
        assert fcntl.fcntl(slave, fcntl.F_GETFL) == before  # no O_NONBLOCK left on the tty
    finally:
        os.close(master)
        os.close(slave)


def test_stdin_and_stdout_pipe_flags_are_restored():
    server = Server(read_all_then_answer(0))
    read_end, write_end = os.pipe()
    os.write(write_end, b"x")
    os.close(write_end)
    out_read, out_write = os.pipe()
    before = fcntl.fcntl(read_end, fcntl.F_GETFL)
    out_before = fcntl.fcntl(out_write, fcntl.F_GETFL)
    r = subprocess.run([NETTOOL, "connect", f"127.0.0.1:{server.port}"], stdin=read_end,
                       stdout=out_write, stderr=subprocess.PIPE, timeout=DEADLINE)
    # The same open file descriptions as nettool's stdin and stdout.
    after = fcntl.fcntl(read_end, fcntl.F_GETFL)
    out_after = fcntl.fcntl(out_write, fcntl.F_GETFL)
    os.close(out_write)
    answer = os.read(out_read, 1 << 16)
    os.close(out_read)
    os.close(read_end)
    server.join()
    assert r.returncode == 0, r.stderr
    assert (after, out_after) == (before, out_before)
    assert server.received == [b"x"]
    assert answer.startswith(b"1 ")


def test_closed_stdout_pipe_is_an_error_not_a_sigpipe_death():
    def flood(server, conn):
        try:
            conn.sendall(b"y" * (4 << 20))
        except OSError:
            pass
    server = Server(flood)
    read_end, write_end = os.pipe()
    os.close(read_end)
    r = subprocess.run([NETTOOL, "connect", f"127.0.0.1:{server.port}"], stdin=subprocess.DEVNULL,
                       stdout=write_end, stderr=subprocess.PIPE, timeout=DEADLINE)
    os.close(write_end)
    server.join()
    assert r.returncode == 3, r.stderr  # a local output error, not -SIGPIPE
    err = r.stderr.decode()
    assert "standard output" in err and "broken pipe" in err


def test_send_text_then_half_close():
    server = Server(read_all_then_answer(5))
    r = run("connect", "--send", "GET / HTTP/1.0\r\n\r\n", f"127.0.0.1:{server.port}")
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [b"GET / HTTP/1.0\r\n\r\n"]


def test_max_bytes_reads_n_bytes_then_closes(procs):
    # The server keeps the connection open: nettool must close by itself after --max-bytes.
    def chatty2(server, conn):
        conn.sendall(b"abcdefghij" * 10)
        try:
            server.received.append(recv_to_eof(conn))
        except ConnectionResetError:  # closed with the rest unread: the kernel resets
            server.received.append(b"")
    server2 = Server(chatty2)
    p2 = procs(nettool_argv("connect", "--max-bytes", "10", f"127.0.0.1:{server2.port}"),
               stdin=subprocess.PIPE)
    assert p2.wait() == 0
    assert p2.p.stdout.read() == b"abcdefghij"
    server2.join()
    assert server2.received == [b""]  # nettool closed the connection (EOF or reset)


def test_crlf_turns_lf_into_crlf():
    server = Server(read_all_then_answer(0))
    r = run("connect", "--crlf", f"127.0.0.1:{server.port}", input=b"HELO x\nQUIT\r\n")
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [b"HELO x\r\nQUIT\r\n"]


def test_hexdump_of_both_directions(tmp_path):
    server = Server(read_all_then_answer(0))
    dump = tmp_path / "dump.txt"
    r = run("connect", "--hexdump", str(dump), "--send", "Hello\n", f"127.0.0.1:{server.port}")
    server.join()
    assert r.returncode == 0, r.stderr
    lines = dump.read_text().splitlines()
    assert lines[0] == "> 00000000  48 65 6c 6c 6f 0a" + " " * 33 + "|Hello.|"
    assert lines[1].startswith("< 00000000  36 20 ")  # "6 " + sha256 answer
    assert lines[2].startswith("< 00000010  ")
    received = "".join(l[63:-1] for l in lines if l.startswith("<"))
    assert received == r.stdout.decode().replace("\n", ".")


def test_unwritable_hexdump_file_fails_before_connecting(tmp_path):
    closed = closed_port_socket()  # would be exit 4 if nettool tried to connect first
    r = run("connect", "--hexdump", str(tmp_path / "no" / "such" / "dir"), "127.0.0.1",
            str(closed.getsockname()[1]), input=b"")
    closed.close()
    err = one_error_line(r, 3)
    assert "hex dump file" in err and "no such file or directory" in err


def test_verbose_names_the_peer():
    server = Server(read_all_then_answer(0))
    r = run("connect", "-v", f"127.0.0.1:{server.port}", input=b"")
    server.join()
    assert r.returncode == 0
    assert f"nettool: note: connected to 127.0.0.1:{server.port}" in r.stderr.decode()


def test_idle_timeout_closes_a_silent_connection(procs):
    def silent(server, conn):
        server.received.append(recv_to_eof(conn))
    server = Server(silent)
    p = procs(nettool_argv("connect", "--idle-timeout", "300ms", f"127.0.0.1:{server.port}"),
              stdin=subprocess.PIPE)
    assert p.wait() == 4
    err = p.rest_of_stderr()
    assert "idle for 300ms" in err
    server.join()
    assert server.received == [b""]


def test_sigint_exits_130_and_closes(procs):
    def silent(server, conn):
        server.received.append(recv_to_eof(conn))
    server = Server(silent)
    p = procs(nettool_argv("connect", "-v", f"127.0.0.1:{server.port}"), stdin=subprocess.PIPE)
    assert "connected to" in p.read_stderr_line()
    p.signal(signal.SIGINT)
    assert p.wait() == 130
    server.join()


def test_source_address_and_port_are_bound():
    def who(server, conn):
        server.received.append(conn.getpeername())
        recv_to_eof(conn)
    server = Server(who)
    src_port = free_port()
    r = run("connect", "--source", f"127.0.0.1:{src_port}", f"127.0.0.1:{server.port}", input=b"")
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [("127.0.0.1", src_port)]


def test_source_of_the_wrong_family_is_explained():
    r = run("connect", "--source", "::1", "127.0.0.1", "9", input=b"")
    err = one_error_line(r, 4)
    assert "source address ::1" in err


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_ipv6_literal_and_family_flags():
    server = Server(read_all_then_answer(0), family=socket.AF_INET6, address=("::1", 0))
    r = run("connect", "-6", "-v", f"[::1]:{server.port}", input=b"six")
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [b"six"]
    assert f"connected to [::1]:{server.port}" in r.stderr.decode()
    r4 = run("connect", "-4", "::1", "80", input=b"")
    err = one_error_line(r4, 4)
    assert "cannot resolve '::1' to an IPv4 address" in err


# --- half-close in each direction, resets (nettool-connect(1) DATA TRANSFER) -----------------

@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """50 MiB of random bytes in a file, and their sha256."""
    return big_payload_file(tmp_path_factory.mktemp("big"))


def connect_argv(port):
    return [NETTOOL, "connect", "127.0.0.1", str(port)]


def test_50_mib_to_nettool_serve_whose_stdin_is_empty(tmp_path, big):
    # serve's stdin is /dev/null: its FIN comes first and must not end our upload.
    path, digest = big
    out = tmp_path / "out.bin"
    with open(out, "wb") as sink, RawServe("127.0.0.1:0", stdout=sink) as serve:
        start = time.monotonic()
        with open(path, "rb") as stdin:
            r = subprocess.run(connect_argv(serve.port), stdin=stdin, capture_output=True,
                               timeout=DEADLINE)
        assert r.returncode == 0, r.stderr
        assert serve.wait() == 0, serve.stderr_text()
        print(f"50 MiB connect -> serve </dev/null: {time.monotonic() - start:.3f} s")
    assert r.stdout == b"" and r.stderr == b""
    assert file_sha256(out) == digest


def test_50_mib_to_a_server_that_shuts_down_its_write_side_first(big):
    path, digest = big

    def shut_then_read(server, conn):
        conn.sendall(b"send me everything\n")
        conn.shutdown(socket.SHUT_WR)
        server.received.append(recv_hashing(conn))
    server = Server(shut_then_read)
    with open(path, "rb") as stdin:
        r = subprocess.run(connect_argv(server.port), stdin=stdin, capture_output=True,
                           timeout=DEADLINE)
    server.join()
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"send me everything\n"
    assert server.received == [(BIG, digest)]


def test_peer_fin_reaches_a_stdout_reader_within_a_second_while_stdin_stays_open(big):
    path, digest = big
    fin_at = []
    got = []

    def send_then_read(server, conn):
        send_file(conn, path)
        conn.shutdown(socket.SHUT_WR)
        fin_at.append(time.monotonic())
        got.append(recv_to_eof(conn))
    server = Server(send_then_read)
    p = subprocess.Popen(connect_argv(server.port), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        reader = PipeReader(p.stdout)
        assert reader.join() == digest  # EOF, though stdin is still open
        delay = reader.eof_at - fin_at[0]
        print(f"peer FIN -> EOF at connect's stdout reader: {delay * 1000:.1f} ms")
        assert delay < 1.0
        assert p.poll() is None  # still sending: stdin has not ended
        p.stdin.write(b"the rest of stdin\n")
        p.stdin.close()
        assert p.wait(timeout=DEADLINE) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    server.join()
    assert got == [b"the rest of stdin\n"]


def test_50_mib_from_nettool_serve_to_connect_with_dev_null_on_both_ends(tmp_path, big):
    # connect's stdin is /dev/null: its FIN comes first and must not end serve's sending.
    path, digest = big
    out = tmp_path / "out.bin"
    with open(path, "rb") as src, RawServe("127.0.0.1:0", stdin=src) as serve:
        with open(out, "wb") as dst:
            r = subprocess.run(connect_argv(serve.port), stdin=subprocess.DEVNULL, stdout=dst,
                               stderr=subprocess.PIPE, timeout=DEADLINE)
        assert r.returncode == 0, r.stderr
        assert serve.wait() == 0, serve.stderr_text()
    assert file_sha256(out) == digest


def test_50_mib_both_ways_at_once(tmp_path, big):
    path, digest = big
    to_connect = tmp_path / "to-connect.bin"
    to_serve = tmp_path / "to-serve.bin"
    with open(path, "rb") as src, open(to_serve, "wb") as dst, \
            RawServe("127.0.0.1:0", stdin=src, stdout=dst) as serve:
        with open(path, "rb") as stdin, open(to_connect, "wb") as stdout:
            r = subprocess.run(connect_argv(serve.port), stdin=stdin, stdout=stdout,
                               stderr=subprocess.PIPE, timeout=DEADLINE)
        assert r.returncode == 0, r.stderr
        assert serve.wait() == 0, serve.stderr_text()
    assert file_sha256(to_connect) == digest
    assert file_sha256(to_serve) == digest


def test_reset_before_the_peers_fin_exits_4_after_writing_what_came():
    written = threading.Event()

    def partial_then_reset(server, conn):
        conn.sendall(b"partial")
        written.wait(DEADLINE)
        reset(conn)
    server = Server(partial_then_reset)
    p = subprocess.Popen(connect_argv(server.port), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        reader = PipeReader(p.stdout)
        assert reader.wait_for(7) == 7
        written.set()
        assert p.wait(timeout=DEADLINE) == 4
        err = p.stderr.read().decode()
        reader.join()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    server.join()
    assert bytes(reader.head) == b"partial"
    assert err.startswith("nettool: error: ") and "reset by peer" in err, err
    assert f"127.0.0.1:{server.port}" in err and len(err.strip().splitlines()) == 1


def test_reset_after_the_peers_fin_exits_0_without_waiting_for_stdin():
    ended = threading.Event()

    def reply_then_reset(server, conn):
        conn.sendall(b"complete reply\n")
        conn.shutdown(socket.SHUT_WR)
        ended.wait(DEADLINE)
        reset(conn)
    server = Server(reply_then_reset)
    # stdin stays open and silent: only the reset can end the connection.
    p = subprocess.Popen(connect_argv(server.port), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        reader = PipeReader(p.stdout)
        reader.join()
        ended.set()
        assert p.wait(timeout=DEADLINE) == 0
        assert p.stderr.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    server.join()
    assert bytes(reader.head) == b"complete reply\n"


def test_reset_while_uploading_exits_4(big):
    path, _ = big

    def read_some_then_reset(server, conn):
        got = 0
        while got < (1 << 20):
            got += len(conn.recv(1 << 16))
        reset(conn)
    server = Server(read_some_then_reset)
    with open(path, "rb") as stdin:
        r = subprocess.run(connect_argv(server.port), stdin=stdin, capture_output=True,
                           timeout=DEADLINE)
    server.join()
    err = one_error_line(r, 4)
    assert "reset by peer" in err


def test_stdin_on_a_terminal_ends_with_the_peers_fin():
    # nc's interactive habit: a person at a terminal is done when the server is.
    master, slave = pty.openpty()
    try:
        server = Server(lambda s, c: c.sendall(b"bye\n"))  # then closes (FIN)
        p = subprocess.Popen(connect_argv(server.port), stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=DEADLINE)
        server.join()
        assert p.returncode == 0, err
        assert out == b"bye\n"
    finally:
        os.close(master)
        os.close(slave)


def test_closed_stdin_reads_as_empty():
    server = Server(read_all_then_answer(3))
    r = subprocess.run(connect_argv(server.port), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=DEADLINE, preexec_fn=lambda: os.close(0))
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [b""]
    assert r.stdout.startswith(b"0 ")


def test_closed_stdout_is_refused_before_connecting():
    closed = closed_port_socket()  # exit 4 if nettool tried to connect
    r = subprocess.run(connect_argv(closed.getsockname()[1]), stdin=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=DEADLINE, preexec_fn=lambda: os.close(1))
    closed.close()
    assert r.returncode == 3, r.stderr
    assert b"standard output is closed" in r.stderr


# --- interoperability with OpenBSD nc --------------------------------------------------------

def test_nc_listener_both_directions(tmp_path, procs):
    port = free_port()
    nc_in = tmp_path / "nc-in"
    nc_in.write_bytes(b"from nc\n")
    with open(nc_in, "rb") as stdin:
        nc = procs(["nc", "-l", "127.0.0.1", str(port)], stdin=stdin)
    wait_listening(port)
    r = run("connect", "--send", "from nettool\n", "127.0.0.1", str(port))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"from nc\n"
    # nc exits when it sees our half-close as EOF.
    assert nc.wait() == 0
    assert nc.p.stdout.read() == b"from nettool\n"


def test_nc_client_talks_to_python_server_like_nettool_does():
    # The same Python peer answers nc and nettool alike: both send to EOF and read the reply.
    server = Server(read_all_then_answer(64), clients=2)
    nc = subprocess.run(["nc", "-N", "127.0.0.1", str(server.port)], input=b"data",
                        capture_output=True, timeout=DEADLINE)
    r = run("connect", "127.0.0.1", str(server.port), input=b"data")
    server.join()
    assert server.received == [b"data", b"data"]
    assert r.returncode == 0 and r.stdout == nc.stdout


# --- connecting: errors, timeouts, --wait ------------------------------------------------------

def test_refused():
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    r = run("connect", "127.0.0.1", str(port), input=b"")
    closed.close()
    err = one_error_line(r, 4)
    assert err.strip() == f"nettool: error: connect to 127.0.0.1:{port}: connection refused"


def test_unresolvable_host():
    r = run("connect", "nosuch.invalid", "80", input=b"")
    err = one_error_line(r, 4)
    assert "cannot resolve 'nosuch.invalid'" in err


def test_connect_timeout():
    listener, fillers = black_hole()
    start = time.monotonic()
    r = run("connect", "-w", "400ms", "127.0.0.1", str(listener.getsockname()[1]), input=b"")
    took = time.monotonic() - start
    listener.close()
    for f in fillers:
        f.close()
    err = one_error_line(r, 4)
    assert "timed out after 400ms" in err
    assert took < DEADLINE / 2


def test_wait_connects_to_a_server_that_starts_later():
    port = free_port()
    got = []

    def late_server():
        time.sleep(1.0)  # the server starts late on purpose; nothing is asserted on time
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(1)
            s.settimeout(DEADLINE)
            conn, _ = s.accept()
            with conn:
                conn.settimeout(DEADLINE)
                got.append(recv_to_eof(conn))
                conn.sendall(b"up\n")
    t = threading.Thread(target=late_server, daemon=True)
    t.start()
    r = run("connect", "--wait", "10s", "-v", "127.0.0.1", str(port), input=b"hello",
            timeout=DEADLINE + 10)
    t.join(DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"up\n"
    assert got == [b"hello"]
    assert "retrying" in r.stderr.decode()


def late_listener(port, got):
    """A server that starts a second late (on purpose; nothing is asserted on time)."""
    def serve():
        time.sleep(1.0)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(4)
            s.settimeout(DEADLINE)
            conn, _ = s.accept()
            conn.close()
            got.append(True)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_zero_with_wait_reports_open_once_the_port_is():
    port = free_port()
    got = []
    t = late_listener(port, got)
    r = run("connect", "-z", "--wait", "10s", "127.0.0.1", str(port), timeout=DEADLINE + 10)
    t.join(DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == f"127.0.0.1 {port} open\n"
    assert got == [True]


def test_bare_port_means_localhost():
    server = Server(read_all_then_answer(0))
    r = run("connect", str(server.port), input=b"bare")
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [b"bare"]


def test_wait_gives_up_after_the_duration():
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    r = run("connect", "--wait", "500ms", "127.0.0.1", str(port), input=b"")
    closed.close()
    err = one_error_line(r, 4)
    assert "connection refused" in err and "kept trying for 500ms" in err


# --- -z: port scans --------------------------------------------------------------------------

def test_zero_open_port():
    server = Server(lambda s, c: None)
    r = run("connect", "-z", "127.0.0.1", str(server.port))
    server.join()
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == f"127.0.0.1 {server.port} open\n"


def test_zero_closed_port():
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    r = run("connect", "-z", f"127.0.0.1:{port}")
    closed.close()
    assert r.returncode == 1
    assert r.stdout.decode() == f"127.0.0.1 {port} closed\n"


def test_zero_range_with_open_and_closed_ports_text_json_quiet():
    listener, closed = adjacent_open_and_closed_ports()
    try:
        port = listener.getsockname()[1]
        rng = f"{port}-{port + 1}"
        r = run("connect", "-z", "127.0.0.1", rng)
        assert r.returncode == 1
        assert r.stdout.decode() == f"127.0.0.1 {port} open\n127.0.0.1 {port + 1} closed\n"
        j = run("connect", "-z", "--json", "127.0.0.1", rng)
        assert j.returncode == 1
        objs = json_lines(j.stdout, only_json=True)
        assert objs[0] == {"event": "port", "host": "127.0.0.1",
                           "peer": {"address": "127.0.0.1", "port": port}, "open": True}
        assert objs[1]["peer"]["port"] == port + 1 and objs[1]["open"] is False
        assert objs[1]["reason"] == "connection refused"
        q = run("connect", "-z", "-q", "127.0.0.1", rng)
        assert q.returncode == 1 and q.stdout == b"" and q.stderr == b""
    finally:
        listener.close()
        closed.close()


def test_zero_scans_a_range_in_parallel_in_order():
    closed = closed_port_socket()
    base = closed.getsockname()[1]
    if base > 65535 - 300:
        pytest.skip("port too high for a range")
    r = run("connect", "-z", "127.0.0.1", f"{base}-{base + 299}")
    closed.close()
    lines = r.stdout.decode().splitlines()
    assert [int(l.split()[1]) for l in lines] == list(range(base, base + 300))
    assert lines[0] == f"127.0.0.1 {base} closed"


# --- UDP and unix sockets ---------------------------------------------------------------------

def test_udp_datagrams_both_ways():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(DEADLINE)
    got = []

    def echo_upper():
        data, peer = srv.recvfrom(65536)
        got.append(data)
        srv.sendto(data.upper(), peer)
    t = threading.Thread(target=echo_upper, daemon=True)
    t.start()
    r = run("connect", "-u", "--idle-timeout", "2s", "127.0.0.1", str(srv.getsockname()[1]),
            input=b"ping\n")
    t.join(DEADLINE)
    srv.close()
    assert r.returncode == 0, r.stderr
    assert got == [b"ping\n"]
    assert r.stdout == b"PING\n"


def test_udp_url_form_and_refused():
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens: the kernel answers with ICMP port unreachable
    r = run("connect", f"udp://127.0.0.1:{port}", input=b"anyone?\n")
    err = one_error_line(r, 4)
    assert "connection refused" in err


def test_unix_path_socket(tmp_path):
    path = str(tmp_path / "s.sock")
    server = Server(read_all_then_answer(3), family=socket.AF_UNIX, address=path)
    r = run("connect", "-v", f"unix:{path}", input=b"over unix")
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [b"over unix"]
    assert f"connected to unix:{path}" in r.stderr.decode()


def test_unix_abstract_socket():
    name = f"nettool-test-{os.getpid()}-{time.monotonic_ns()}"
    server = Server(read_all_then_answer(0), family=socket.AF_UNIX, address="\0" + name)
    r = run("connect", f"unix:@{name}", input=b"abstract")
    server.join()
    assert r.returncode == 0, r.stderr
    assert server.received == [b"abstract"]


def test_unix_socket_missing():
    r = run("connect", "unix:/nonexistent/nettool.sock", input=b"")
    err = one_error_line(r, 4)
    assert "unix:/nonexistent/nettool.sock" in err and "no such file or directory" in err


# --- bad input: exit 2, one sentence ------------------------------------------------------------

@pytest.mark.parametrize("args,words", [
    (["127.0.0.1", "70000"], "out of range"),
    (["localhost", "http"], "not a number"),
    (["[::1:80"], "missing ']'"),
    ([""], "empty endpoint"),
    (["a", "b", "c"], "too many operands"),
    ([], "needs ENDPOINT or HOST PORT"),
    (["-z", "127.0.0.1"], "-z needs a port"),
    (["127.0.0.1", "20-25"], "needs -z"),
    (["-z", "127.0.0.1", "25-20"], "larger than the last"),
    (["-w", "soon", "127.0.0.1", "80"], "bad duration 'soon'"),
    (["--idle-timeout", "-1", "127.0.0.1", "80"], ""),
    (["--max-bytes", "lots", "127.0.0.1", "80"], ""),
    (["-z", "-u", "127.0.0.1", "80"], ""),
    (["-4", "-6", "127.0.0.1", "80"], ""),
    (["--json", "127.0.0.1", "80"], "--json is for -z"),
    (["--source", "nohost", "127.0.0.1", "80"], "bad source address"),
    (["-z", "unix:/tmp/x"], "TCP ports only"),
    (["ftp://127.0.0.1:21"], "unknown scheme"),
])
def test_bad_input_is_a_usage_error(args, words):
    r = run("connect", *args, input=b"")
    err = one_error_line(r, 2)
    assert words in err
