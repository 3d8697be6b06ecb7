"""serve --to HOST:PORT --to-tls (nettool-serve(1), TLS TOWARD THE TARGET): the forwarder
originates TLS toward its target, verified for the target's host by default, with
--to-cafile, --to-insecure, --to-servername and --to-cert/--to-key. 50 MiB each way with
half-close from either end, TLS terminated and re-originated; a target whose certificate fails
ends the client's connection with a reason naming it and no failover; the PROXY header goes
before the handshake, on the TCP connection; hostile targets; usage and file errors."""
import hashlib
import socket
import ssl
import subprocess

import pytest

from conftest import DEADLINE, NETTOOL, run
from connect_helpers import (BIG, PipeReader, Server, big_payload_file, closed_port_socket,
                             reset)
from serve_helpers import exchange, port_of, read_events_until_exit, start_serve
from test_tls import feed_when, serve_tls
from tls_helpers import needs_openssl, pki, start_s_server  # noqa: F401 (pki: a fixture)

pytestmark = needs_openssl


def forwarder(procs, pki, targets, *args, tls_in=False):
    """`nettool serve --to TARGETS --to-tls ARGS 127.0.0.1:0 --json`, trusting the test CA (and
    with --tls and the server certificate when `tls_in`); returns (proc, port)."""
    extra = ["--tls", "--cert", pki.path("server.pem"), "--key", pki.path("server.key")] \
        if tls_in else []
    proc, events = start_serve(procs, "--to", targets, "--to-tls", *args, *extra, "127.0.0.1:0")
    return proc, port_of(events)


def ca(pki):
    return ("--to-cafile", pki.path("ca.pem"))


def stderr_of(r):
    return r.stderr.decode(errors="replace")


def refused_exchange(port):
    """A client whose forward fails: it reads nothing, and the forwarder resets its connection
    (a failed forward resets both sides)."""
    try:
        return exchange("127.0.0.1", port, b"hello\n")
    except (ConnectionResetError, BrokenPipeError):
        return b""


# --- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls_in", [False, True], ids=["plain-in", "tls-in"])
@pytest.mark.parametrize("first", ["client", "target"])
def test_50_mib_each_way_half_close_first_by(procs, pki, tmp_path, first, tls_in):
    """client -(plain or TLS)-> forwarder -TLS-> nettool serve --tls (its stdin/stdout). The side
    that half-closes first sends its file; the other's input is a pipe fed only once the first
    side's data has all arrived and its output reached end-of-file."""
    client_file, client_sha = big_payload_file(tmp_path, "client.bin")
    target_file, target_sha = big_payload_file(tmp_path, "target.bin")
    target_in = open(target_file, "rb") if first == "target" else subprocess.PIPE
    target, target_port = serve_tls(procs, pki, stdin=target_in)
    target_out = PipeReader(target.p.stdout)
    fwd, port = forwarder(procs, pki, f"localhost:{target_port}", *ca(pki), tls_in=tls_in)
    client_in = open(client_file, "rb") if first == "client" else subprocess.PIPE
    tls_args = ["--tls", "--cafile", pki.path("ca.pem")] if tls_in else []
    client = procs([NETTOOL, "connect", *tls_args, "localhost", str(port)], stdin=client_in)
    client_out = PipeReader(client.p.stdout)
    if first == "client":
        feeder = feed_when(target.p.stdin, target_file, lambda: target_out.eof_at is not None)
    else:
        feeder = feed_when(client.p.stdin, client_file, lambda: client_out.eof_at is not None)
    assert client_out.join(timeout=90) == target_sha
    assert target_out.join(timeout=90) == client_sha
    assert client_out.size == target_out.size == BIG
    feeder.join(60)
    assert client.wait(timeout=DEADLINE) == 0, client.rest_of_stderr()
    assert target.wait(timeout=DEADLINE) == 0, target.rest_of_stderr()
    assert fwd.wait(timeout=DEADLINE) == 0, fwd.rest_of_stderr()
    close = [e for e in read_events_until_exit(fwd) if e["event"] == "close"]
    assert len(close) == 1 and close[0]["bytes_in"] == close[0]["bytes_out"] == BIG, close


def test_verified_by_name_and_the_other_options(procs, pki):
    _, target = start_s_server(procs, pki, "server", "-rev")
    _, port = forwarder(procs, pki, f"localhost:{target}", *ca(pki))
    assert exchange("127.0.0.1", port, b"hello\n") == b"olleh\n"
    # By address: the certificate's IP SAN.
    _, target = start_s_server(procs, pki, "server", "-rev")
    _, port = forwarder(procs, pki, f"127.0.0.1:{target}", *ca(pki))
    assert exchange("127.0.0.1", port, b"hello\n") == b"olleh\n"
    # --to-insecure: a self-signed target.
    _, target = start_s_server(procs, pki, "self_signed", "-rev")
    _, port = forwarder(procs, pki, f"localhost:{target}", "--to-insecure")
    assert exchange("127.0.0.1", port, b"hello\n") == b"olleh\n"
    # --to-servername: the SNI and the name checked.
    _, target = start_s_server(procs, pki, "server", "-rev", "-servername", "other.example",
                               "-cert2", pki.path("wrong_name.pem"), "-key2",
                               pki.path("wrong_name.key"))
    _, port = forwarder(procs, pki, f"127.0.0.1:{target}", *ca(pki), "--to-servername",
                        "other.example")
    assert exchange("127.0.0.1", port, b"hello\n") == b"olleh\n"
    # --to-cert/--to-key: a target that requires a client certificate.
    required = ("-rev", "-Verify", "1", "-verify_return_error", "-CAfile", pki.path("ca.pem"))
    _, target = start_s_server(procs, pki, "server", *required)
    _, port = forwarder(procs, pki, f"localhost:{target}", *ca(pki), "--to-cert",
                        pki.path("client.pem"), "--to-key", pki.path("client.key"))
    assert exchange("127.0.0.1", port, b"hello\n") == b"olleh\n"


def test_system_store_by_default(procs, pki):
    _, target = start_s_server(procs, pki, "server", "-rev")
    proc, port = forwarder(procs, pki, f"localhost:{target}", "-k")
    assert refused_exchange(port) == b""
    error = proc.wait_event("warning")
    assert "unknown certificate authority" in error["message"]


# --- certificate failures: the client's connection ends, no failover -----------------------


@pytest.mark.parametrize("cert,words", [("expired", "expired on 2020-02-01"),
                                        ("wrong_name", "is not for 'localhost'")])
def test_a_bad_certificate_closes_the_client_and_the_next_target_is_not_tried(procs, pki, cert,
                                                                              words):
    _, bad = start_s_server(procs, pki, cert, "-rev")
    # The spare target only listens: a connection to it would wait in its backlog.
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    spare.listen(4)
    spare_port = spare.getsockname()[1]
    proc, port = forwarder(procs, pki, f"localhost:{bad},localhost:{spare_port}", *ca(pki), "-k")
    assert refused_exchange(port) == b""
    message = proc.wait_event("warning")["message"]
    assert message.startswith("forwarding the connection from 127.0.0.1:"), message
    assert f"the certificate of localhost:{bad}" in message and words in message, message
    assert "--to-insecure" in message or "--to-servername" in message, message
    # Certificate failures do not fail over: nothing ever connected to the spare.
    spare.setblocking(False)
    with pytest.raises(BlockingIOError):
        spare.accept()
    spare.close()


def test_a_target_refusing_still_fails_over_to_the_next(procs, pki):
    closed = closed_port_socket()
    _, good = start_s_server(procs, pki, "server", "-rev")
    _, port = forwarder(procs, pki, f"localhost:{closed.getsockname()[1]},localhost:{good}",
                        *ca(pki))
    assert exchange("127.0.0.1", port, b"hello\n") == b"olleh\n"
    closed.close()


# --- PROXY protocol: before the handshake ----------------------------------------------------


def test_send_proxy_v1_goes_before_the_tls_handshake(procs, pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))

    def header_then_tls(server, conn):
        header = b""
        while not header.endswith(b"\r\n") and len(header) < 108:
            byte = conn.recv(1)  # byte by byte: the ClientHello stays in the socket
            if not byte:
                break
            header += byte
        server.received.append(header)
        tls = context.wrap_socket(conn, server_side=True)
        data = b""
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
        tls.sendall(b"header " + header + b"data " + data)
        tls.unwrap()

    target = Server(header_then_tls)
    _, port = forwarder(procs, pki, f"localhost:{target.port}", *ca(pki), "--send-proxy", "v1")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        local_port = s.getsockname()[1]
        s.sendall(b"through")
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    target.join()
    expected = b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n" % (local_port, port)
    assert target.received == [expected]
    assert reply == b"header " + expected + b"data through"


# --- hostile targets -------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour,words", [
    ("garbage", "does not speak TLS"),
    ("reset", "reset the connection during the TLS handshake"),
    ("close", "closed the connection during the TLS handshake"),
])
def test_a_hostile_target_ends_the_clients_connection_with_a_reason(procs, pki, behaviour,
                                                                    words):
    def target_handler(server, conn):
        if behaviour == "garbage":
            conn.sendall(b"220 plain text here\r\n" * 8)
            conn.recv(65536)
        elif behaviour == "reset":
            conn.recv(5)
            reset(conn)
        else:
            conn.recv(65536)  # the whole ClientHello read: a clean close follows
    target = Server(target_handler)
    proc, port = forwarder(procs, pki, f"localhost:{target.port}", *ca(pki))
    assert refused_exchange(port) == b""
    target.join()
    # Without -k the one connection's failure is the exit status.
    assert proc.wait(timeout=DEADLINE) == (5 if behaviour == "garbage" else 4)
    message = read_events_until_exit(proc)[-1]["message"]
    assert message.startswith("forwarding the connection from 127.0.0.1:"), message
    assert f"localhost:{target.port}" in message and words in message, message


def test_a_target_truncating_its_data_resets_the_client_and_says_why(procs, pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))

    def send_then_fin(server, conn):
        tls = context.wrap_socket(conn, server_side=True)
        tls.sendall(b"partial")
        tls.shutdown(socket.SHUT_WR)  # a TCP FIN, no close_notify
        try:
            tls.recv(1)
        except (OSError, ssl.SSLError):
            pass

    target = Server(send_then_fin)
    proc, port = forwarder(procs, pki, f"localhost:{target.port}", *ca(pki), "-k")
    got = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        ended = "end of data"
    except ConnectionResetError:
        ended = "reset"
    target.join()
    # What arrived may be delivered, but the end is a reset, never a clean end of data.
    assert ended == "reset" and got in (b"", b"partial"), (ended, got)
    message = proc.wait_event("warning")["message"]
    assert f"localhost:{target.port} closed the TCP connection without a TLS close_notify" in \
        message, message


def test_a_client_truncating_through_serve_tls_to_resets_the_target(procs, pki):
    """The other way round, for serve --tls --to: the client's TCP end without close_notify
    must reach the target as a reset, never as a clean end of data."""
    seen = []

    def target_handler(server, conn):
        data = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    seen.append(("end of data", data))
                    return
                data += chunk
        except ConnectionResetError:
            seen.append(("reset", data))

    target = Server(target_handler)
    proc, events = start_serve(procs, "--tls", "--cert", pki.path("server.pem"), "--key",
                               pki.path("server.key"), "--to", f"127.0.0.1:{target.port}", "-k",
                               "127.0.0.1:0")
    context = ssl.create_default_context(cafile=pki.path("ca.pem"))
    raw = socket.create_connection(("127.0.0.1", port_of(events)), timeout=DEADLINE)
    tls = context.wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"cut")
    tls.shutdown(socket.SHUT_WR)  # a TCP FIN without close_notify
    target.join()
    raw.close()
    assert seen and seen[0][0] == "reset", seen
    assert "without a TLS close_notify" in proc.wait_event("warning")["message"]


# --- usage and files -------------------------------------------------------------------------


@pytest.mark.parametrize("args,words", [
    (["--to-cafile", "x.pem", "--to", "127.0.0.1:1"], "--to-cafile is an option of --to-tls"),
    (["--to-insecure", "--to", "127.0.0.1:1"], "add --to-tls"),
    (["--to-tls", "--echo"], "add --to HOST:PORT"),
    (["--to-tls", "--to", "127.0.0.1:1", "--to-cert", "c.pem"], "--to-key FILE"),
    (["--to-tls", "--to", "127.0.0.1:1", "--to-key", "k.pem"], "--to-cert FILE"),
    (["--to-tls", "--to", "127.0.0.1:1", "--to-insecure", "--to-cafile", "x"], "drop one"),
    (["--to-tls", "--to", "127.0.0.1:1", "--to-servername", ""], "empty"),
    (["--to-tls", "--to", "127.0.0.1:1", "--to-cafile", ""], "empty"),
    (["--to-tls", "--to", "unix:/tmp/nettool-target.sock"], "--to-tls runs over TCP"),
])
def test_usage_errors_exit_2(args, words):
    r = run("serve", *args, "127.0.0.1:0")
    assert r.returncode == 2, stderr_of(r)
    assert words in stderr_of(r), stderr_of(r)


def test_missing_files_exit_3_before_listening(pki, tmp_path):
    missing = str(tmp_path / "missing.pem")
    for args, words in ((["--to-cafile", missing], f"cannot read --to-cafile '{missing}'"),
                        (["--to-cert", missing, "--to-key", pki.path("client.key")],
                         f"cannot read --to-cert '{missing}'"),
                        (["--to-cert", pki.path("client.pem"), "--to-key", missing],
                         f"cannot read --to-key '{missing}'")):
        r = run("serve", "--json", "--to", "127.0.0.1:1", "--to-tls", *args, "127.0.0.1:0")
        assert r.returncode == 3, stderr_of(r)
        assert words in stderr_of(r), stderr_of(r)
        assert "listening" not in stderr_of(r)
