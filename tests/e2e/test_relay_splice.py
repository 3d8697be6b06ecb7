"""The relay moves bytes with splice(2) wherever both ends allow it (connect and serve, both
directions): byte-exact with pipes, regular files and sockets at either end, checked with
SHA-256. Each case runs a real `serve` and a real `connect` against each other."""
import hashlib
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import DEADLINE, NETTOOL
from connect_helpers import PipeReader, Server, big_payload_file, file_sha256, reset
from serve_helpers import RawServe, port_of, read_json_line, start_serve

SIZE = 24 << 20


def feed_pipe(f, data, reader_may_leave=False):
    """Writes data into a pipe in a thread, then closes it."""
    def run():
        try:
            f.write(data)
        except BrokenPipeError:
            if not reader_may_leave:
                raise
        finally:
            try:
                f.close()
            except BrokenPipeError:
                pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def endpoints(transport, tmp_path):
    """(serve's listening operand, a function of the server giving connect's operand)."""
    if transport == "unix":
        path = tmp_path / "relay.sock"
        return f"unix:{path}", lambda serve: f"unix:{path}"
    return "127.0.0.1:0", lambda serve: f"127.0.0.1:{serve.port}"


@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("first_to_end", ["client", "server"])
def test_files_through_serve_and_connect_both_ways(tmp_path, transport, first_to_end):
    # connect's stdin a file (file -> socket), serve's stdout a file (socket -> file), and
    # the other way serve's stdin and connect's stdout; the shorter side half-closes first
    # while the other still sends.
    longer, shorter = SIZE + (8 << 20), SIZE
    up_size, down_size = (shorter, longer) if first_to_end == "client" else (longer, shorter)
    up, up_sha = big_payload_file(tmp_path, "up.bin", up_size)
    down, down_sha = big_payload_file(tmp_path, "down.bin", down_size)
    got_up, got_down = tmp_path / "got_up.bin", tmp_path / "got_down.bin"
    listen, target = endpoints(transport, tmp_path)
    with open(down, "rb") as serve_in, open(got_up, "wb") as serve_out, \
            RawServe(listen, stdin=serve_in, stdout=serve_out) as serve:
        with open(up, "rb") as client_in, open(got_down, "wb") as client_out:
            client = subprocess.run([NETTOOL, "connect", "-q", target(serve)],
                                    stdin=client_in, stdout=client_out, stderr=subprocess.PIPE,
                                    timeout=DEADLINE)
        assert client.returncode == 0, client.stderr
        assert serve.wait() == 0
    assert file_sha256(got_up) == up_sha
    assert file_sha256(got_down) == down_sha


@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("first_to_end", ["client", "server"])
def test_pipes_through_serve_and_connect_half_close_from_either_side(tmp_path, transport,
                                                                     first_to_end):
    # Pipes at all four ends (spliced straight). One side sends everything and closes; the
    # other has sent half of its bytes, waits until that end-of-file has come out of the far
    # end (the half-close went through), and only then sends the rest.
    up = os.urandom(SIZE)
    down = os.urandom(SIZE)
    listen, target = endpoints(transport, tmp_path)
    serve = RawServe(listen, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    with serve:
        client = subprocess.Popen([NETTOOL, "connect", "-q", target(serve)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        try:
            at_serve = PipeReader(serve.p.stdout)
            at_client = PipeReader(client.stdout)
            if first_to_end == "client":
                first, first_data, first_reader = client.stdin, up, at_serve
                later, later_data = serve.p.stdin, down
            else:
                first, first_data, first_reader = serve.p.stdin, down, at_client
                later, later_data = client.stdin, up
            done = feed_pipe(first, first_data)
            later.write(later_data[:SIZE // 2])
            later.flush()
            first_reader.join()  # the first side's end-of-file arrived
            rest = feed_pipe(later, later_data[SIZE // 2:])
            assert at_serve.join() == hashlib.sha256(up).hexdigest()
            assert at_client.join() == hashlib.sha256(down).hexdigest()
            for t in (done, rest):
                t.join(DEADLINE)
            assert client.wait(timeout=DEADLINE) == 0
            assert serve.wait() == 0
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
            client.stderr.close()


def test_socket_ends_socket_to_socket_both_ways():
    # connect's stdin and stdout are sockets (as under inetd): socket -> socket through the
    # relay's private pipes, each way, while serve's ends are pipes.
    up = os.urandom(SIZE)
    down = os.urandom(SIZE // 2)
    ours, theirs = socket.socketpair()
    serve = RawServe("127.0.0.1:0", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    with serve:
        client = subprocess.Popen([NETTOOL, "connect", "-q", f"127.0.0.1:{serve.port}"],
                                  stdin=theirs.fileno(), stdout=theirs.fileno(),
                                  stderr=subprocess.PIPE)
        theirs.close()
        try:
            at_serve = PipeReader(serve.p.stdout)
            feeder = feed_pipe(serve.p.stdin, down)
            got = bytearray()
            ours.settimeout(DEADLINE)

            def send_up():
                ours.sendall(up)
                ours.shutdown(socket.SHUT_WR)
            sender = threading.Thread(target=send_up, daemon=True)
            sender.start()
            while True:
                chunk = ours.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
            sender.join(DEADLINE)
            feeder.join(DEADLINE)
            assert hashlib.sha256(got).hexdigest() == hashlib.sha256(down).hexdigest()
            assert at_serve.join() == hashlib.sha256(up).hexdigest()
            assert client.wait(timeout=DEADLINE) == 0
            assert serve.wait() == 0
        finally:
            ours.close()
            if client.poll() is None:
                client.kill()
                client.wait()
            client.stderr.close()


def test_exec_child_pipes_splice_both_ways(procs):
    # --exec: the child's stdin and stdout are pipes, both directions spliced straight.
    up = os.urandom(SIZE)
    _, events = start_serve(procs, "--exec", "cat", "127.0.0.1:0")
    with socket.create_connection(("127.0.0.1", port_of(events)), timeout=DEADLINE) as s:
        def send_up():
            s.sendall(up)
            s.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send_up, daemon=True)
        sender.start()
        back = hashlib.sha256()
        size = 0
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            back.update(chunk)
            size += len(chunk)
        sender.join(DEADLINE)
    assert size == len(up)
    assert back.hexdigest() == hashlib.sha256(up).hexdigest()


@pytest.mark.parametrize("direction, end", [("to_serve", "pipe"), ("to_serve", "devnull"),
                                            ("from_serve", "pipe")])
def test_a_reset_mid_splice_ends_serve_with_4(direction, end):
    # Straight (a pipe at serve's end) and dropped in the kernel (/dev/null): a reset while
    # the bytes flow is a failure, found at once, in either direction.
    data = os.urandom(SIZE)
    if direction == "to_serve":
        out = subprocess.PIPE if end == "pipe" else subprocess.DEVNULL
        serve = RawServe("127.0.0.1:0", stdout=out)
    else:
        serve = RawServe("127.0.0.1:0", stdin=subprocess.PIPE)
    with serve:
        reader = PipeReader(serve.p.stdout) if serve.p.stdout else None
        feeder = feed_pipe(serve.p.stdin, data, True) if serve.p.stdin else None
        s = socket.create_connection(("127.0.0.1", serve.port), timeout=DEADLINE)
        if direction == "to_serve":
            s.sendall(data[:SIZE // 2])
        else:
            got = 0
            while got < (1 << 20):
                got += len(s.recv(1 << 16))
        reset(s)
        assert serve.wait() == 4
        assert "reset by peer" in serve.stderr_text()
        if reader:
            reader.join()
        if feeder:
            feeder.join(DEADLINE)


@pytest.mark.parametrize("up_size", [SIZE, 100])
@pytest.mark.parametrize("stdin", ["devnull", "data"])
def test_tcp_into_dev_null_counts_every_byte_and_half_closes_both_ways(tmp_path, stdin, up_size):
    # serve > /dev/null drops TCP bytes in the kernel (recv MSG_TRUNC) instead of moving them:
    # the count in the close event must still be every byte, the client's FIN must end that
    # direction, and serve's own direction (nothing, or a file) must still arrive whole.
    # 100 bytes: fewer than the batch that wakes serve (SO_RCVLOWAT), found by the FIN.
    up = os.urandom(up_size)
    down = os.urandom(SIZE // 3) if stdin == "data" else b""
    source = tmp_path / "down.bin"
    source.write_bytes(down)
    with open(source, "rb") as f, RawServe("127.0.0.1:0", stdin=f) as serve:
        s = socket.create_connection(("127.0.0.1", serve.port), timeout=DEADLINE)
        back = bytearray()
        reader = threading.Thread(target=lambda: [back.extend(c) for c in iter(
            lambda: s.recv(1 << 20), b"")], daemon=True)
        reader.start()
        s.sendall(up)
        s.shutdown(socket.SHUT_WR)
        reader.join(DEADLINE)
        s.close()
        assert serve.wait() == 0
        events = [json.loads(line) for line in serve.stderr_text().splitlines() if line]
    closed = [e for e in events if e.get("event") == "close"]
    assert len(closed) == 1
    assert closed[0]["bytes_in"] == len(up)
    assert closed[0]["bytes_out"] == len(down)
    assert bytes(back) == down


def test_an_idle_timeout_sees_each_byte_that_goes_to_dev_null():
    # Into /dev/null serve is woken only for a batch of bytes, unless an idle timeout must see
    # each one: a client that sends a byte every 150 ms for 1.2 s is never idle for 400 ms,
    # and is closed about 400 ms after its last byte.
    with RawServe("-k", "--idle-timeout", "400ms", "127.0.0.1:0") as serve:
        s = socket.create_connection(("127.0.0.1", serve.port), timeout=DEADLINE)
        start = time.monotonic()
        for _ in range(8):
            s.sendall(b"x")
            time.sleep(0.15)
        assert time.monotonic() - start > 1.0
        quiet = time.monotonic()
        for _ in range(10):  # the events before it: the connection's open, its notes
            event = read_json_line(serve.p.stderr)
            if event.get("event") == "close":
                break
        assert event.get("event") == "close", event
        assert 0.2 < time.monotonic() - quiet < 2.0  # closed for being idle, not before
        assert event["bytes_in"] == 8
        s.close()


def test_connects_idle_timeout_sees_each_byte_that_goes_to_dev_null():
    # The same for connect > /dev/null: a server that sends a byte every 150 ms for 1.2 s
    # keeps it; 400 ms after the last byte it gives up (exit 4, "idle").
    sent_last = []

    def trickle(server, conn):
        for _ in range(8):
            conn.sendall(b"x")
            time.sleep(0.15)
        sent_last.append(time.monotonic())
        conn.settimeout(DEADLINE)
        try:
            while conn.recv(65536):  # until connect closes
                pass
        except ConnectionResetError:
            pass
    server = Server(trickle)
    # stdin stays open (a pipe nobody writes): only the idle timeout can end connect
    p = subprocess.Popen([NETTOOL, "connect", "--idle-timeout", "400ms",
                          f"127.0.0.1:{server.port}"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        p.wait(timeout=DEADLINE)
        ended = time.monotonic()
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stderr.close()
    server.join()
    assert p.returncode == 4, err
    assert b"idle for 400ms" in err
    assert sent_last and 0.2 < ended - sent_last[0] < 2.0


@pytest.mark.parametrize("end", ["fin", "reset"])
def test_connect_into_dev_null_ends_on_the_peers_fin_and_fails_on_its_reset(end):
    # connect > /dev/null drops the bytes in the kernel too: the server's FIN is a clean end
    # (exit 0), its reset before the FIN a failure (exit 4), with stdin and stdout /dev/null.
    def send_then_end(server, conn):
        conn.sendall(os.urandom(SIZE))
        if end == "reset":
            reset(conn)
            return
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):  # until connect's own FIN (its stdin is empty)
            pass
    server = Server(send_then_end)
    r = subprocess.run([NETTOOL, "connect", "127.0.0.1", str(server.port)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=DEADLINE)
    server.join()
    if end == "fin":
        assert r.returncode == 0, r.stderr
        assert r.stderr == b""
    else:
        assert r.returncode == 4, r.stderr
        assert b"reset by peer" in r.stderr


def test_serve_stdout_reader_leaving_is_exit_3_not_sigpipe():
    # serve | head -c 1000: the reader leaves mid-splice; EPIPE is a local output error.
    head = subprocess.Popen(["head", "-c", "1000"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    try:
        with RawServe("127.0.0.1:0", stdout=head.stdin) as serve:
            head.stdin.close()
            s = socket.create_connection(("127.0.0.1", serve.port), timeout=DEADLINE)
            try:
                s.sendall(os.urandom(SIZE))
            except OSError:
                pass  # serve left first and its close reset us
            s.close()
            assert serve.wait() == 3  # not -SIGPIPE
            assert "broken pipe" in serve.stderr_text()
    finally:
        head.wait(timeout=DEADLINE)
