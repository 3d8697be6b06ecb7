"""serve --to (the forwarder) and the PROXY protocol (--send-proxy, --accept-proxy) against
small Python peers on loopback: half-close kept per direction, failover, resets, Unix sockets,
and headers parsed here independently of nettool's parser."""
import errno
import hashlib
import ipaddress
import os
import socket
import struct
import threading

import pytest

from conftest import DEADLINE, run
from connect_helpers import Server, closed_port_socket, recv_to_eof, reset
from serve_helpers import port_of, start_serve

MIB = 1 << 20
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def start_forwarder(procs, *args):
    proc, events = start_serve(procs, "-k", "127.0.0.1:0", *args)
    return proc, port_of(events)


def send_all_then_shut(sock, data):
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def send_to_a_closing_server(sock, data):
    """Sends and half-closes toward a server that may already have reset the connection."""
    try:
        send_all_then_shut(sock, data)
    except (ConnectionResetError, BrokenPipeError):
        pass
    except OSError as e:
        if e.errno != errno.ENOTCONN:
            raise


def read_what_is_left(sock):
    try:
        return recv_to_eof(sock)
    except ConnectionResetError:
        return b""


class Background:
    """Runs fn in a thread; result() re-raises its exception."""

    def __init__(self, fn, *args):
        self.value = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True)
        self.thread.start()

    def _run(self, fn, *args):
        try:
            self.value = fn(*args)
        except Exception as e:  # re-raised in result()
            self.error = e

    def result(self, timeout=DEADLINE * 3):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background work did not finish"
        if self.error:
            raise self.error
        return self.value


@pytest.mark.parametrize("first_to_end", ["client", "target"])
def test_50_mib_each_way_with_half_close_from_either_side(procs, first_to_end):
    to_target = os.urandom(50 * MIB)
    to_client = os.urandom(50 * MIB)

    def target(server, conn):
        if first_to_end == "client":
            # The client's end of data arrives while this direction is still open.
            server.received.append(recv_to_eof(conn))
            send_all_then_shut(conn, to_client)
        else:
            send_all_then_shut(conn, to_client)
            server.received.append(recv_to_eof(conn))

    backend = Server(target)
    proc, port = start_forwarder(procs, "--to", f"127.0.0.1:{backend.port}")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE * 3) as client:
        if first_to_end == "client":
            send_all_then_shut(client, to_target)
            got = recv_to_eof(client)
        else:
            got = recv_to_eof(client)  # the target's end of data comes first
            send_all_then_shut(client, to_target)
            assert recv_to_eof(client) == b""
    backend.join(DEADLINE * 3)
    assert sha(backend.received[0]) == sha(to_target)
    assert sha(got) == sha(to_client)
    close = proc.wait_event("close")
    assert close["bytes_in"] == len(to_target)
    assert close["bytes_out"] == len(to_client)
    assert close["target"] == {"address": "127.0.0.1", "port": backend.port}
    assert close["seconds"] > 0


def echo_handler(server, conn):
    data = recv_to_eof(conn)
    server.received.append(data)
    send_all_then_shut(conn, data)


def test_the_first_target_refusing_the_second_serves(procs):
    refused = closed_port_socket()
    backend = Server(echo_handler)
    try:
        proc, port = start_forwarder(
            procs, "--to", f"127.0.0.1:{refused.getsockname()[1]},127.0.0.1:{backend.port}")
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
            send_all_then_shut(client, b"second target\n")
            assert recv_to_eof(client) == b"second target\n"
        backend.join()
        assert proc.wait_event("close")["target"]["port"] == backend.port
    finally:
        refused.close()


def test_no_target_accepting_closes_the_client_and_warns(procs):
    first, second = closed_port_socket(), closed_port_socket()
    p1, p2 = first.getsockname()[1], second.getsockname()[1]
    try:
        proc, port = start_forwarder(procs, "--to", f"127.0.0.1:{p1},127.0.0.1:{p2}")
        for _ in range(2):  # the server keeps serving after the failure
            try:  # the reset may come before connect() returned
                with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
                    assert recv_to_eof(client) == b""
            except ConnectionResetError:
                pass
            warning = proc.wait_event("warning")["message"]
            assert f"127.0.0.1:{p1}" in warning and f"127.0.0.1:{p2}" in warning
            assert "connection refused" in warning
            assert "no target took the connection" in warning
        assert proc.p.poll() is None
    finally:
        first.close()
        second.close()


def test_a_target_resetting_mid_way_reaches_the_client_and_serving_goes_on(procs):
    def target(server, conn):
        if not server.received:
            server.received.append(conn.recv(5))
            reset(conn)
        else:
            echo_handler(server, conn)

    backend = Server(target, clients=2)
    proc, port = start_forwarder(procs, "--to", f"127.0.0.1:{backend.port}")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        client.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            client.sendall(b"x" * MIB)  # keeps going until the reset arrives
            recv_to_eof(client)
    assert "reset" in proc.wait_event("warning")["message"]
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        send_all_then_shut(client, b"still here")
        assert recv_to_eof(client) == b"still here"
    backend.join()


def test_unix_on_both_sides(procs, tmp_path):
    target_path = str(tmp_path / "target.sock")
    backend = Server(echo_handler, family=socket.AF_UNIX, address=target_path)
    listen_path = str(tmp_path / "front.sock")
    proc, _ = start_serve(procs, "-k", f"unix:{listen_path}", "--to", f"unix:{target_path}")
    payload = os.urandom(3 * MIB)
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(DEADLINE)
        client.connect(listen_path)
        reader = Background(recv_to_eof, client)
        send_all_then_shut(client, payload)
        assert sha(reader.result()) == sha(payload)
    backend.join()
    assert proc.wait_event("close")["target"] == {"path": target_path}


# The PROXY protocol, read here independently of nettool (HAProxy's proxy-protocol.txt).

def read_proxy_header(conn):
    """Returns (source, destination, rest) from the start of a connection: addresses as
    (ip, port) or None for UNKNOWN/UNSPEC; `rest` is what followed the header in the buffer."""
    data = b""
    while len(data) < 16:
        chunk = conn.recv(4096)
        assert chunk, "closed inside the PROXY header"
        data += chunk
    if data.startswith(b"PROXY "):
        while b"\r\n" not in data:
            data += conn.recv(4096)
        line, rest = data.split(b"\r\n", 1)
        assert len(line) + 2 <= 107
        words = line.decode("ascii").split(" ")
        if words[1] == "UNKNOWN":
            return None, None, rest
        assert words[1] in ("TCP4", "TCP6") and len(words) == 6
        version = 4 if words[1] == "TCP4" else 6
        for address in words[2:4]:
            assert ipaddress.ip_address(address).version == version
        for port in words[4:6]:
            assert port == str(int(port)) and 0 <= int(port) <= 65535
        return (words[2], int(words[4])), (words[3], int(words[5])), rest
    assert data[:12] == V2_SIGNATURE
    version_command, family, length = data[12], data[13], struct.unpack("!H", data[14:16])[0]
    while len(data) < 16 + length:
        data += conn.recv(4096)
    body, rest = data[16:16 + length], data[16 + length:]
    assert version_command == 0x21  # version 2, PROXY
    if family == 0x00:
        return None, None, rest
    assert family in (0x11, 0x21)
    size = 4 if family == 0x11 else 16
    source = str(ipaddress.ip_address(body[:size]))
    destination = str(ipaddress.ip_address(body[size:2 * size]))
    sport, dport = struct.unpack("!HH", body[2 * size:2 * size + 4])
    return (source, sport), (destination, dport), rest


def proxy_reading_target(server, conn):
    source, destination, rest = read_proxy_header(conn)
    server.received.append((source, destination, rest + recv_to_eof(conn)))
    send_all_then_shut(conn, b"ok")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_carries_the_client_address(procs, version):
    backend = Server(proxy_reading_target)
    proc, port = start_forwarder(procs, "--to", f"127.0.0.1:{backend.port}",
                                 "--send-proxy", version)
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        me = client.getsockname()
        send_all_then_shut(client, b"PROXY payload after the header")
        assert recv_to_eof(client) == b"ok"
    backend.join()
    source, destination, data = backend.received[0]
    assert source == (me[0], me[1])
    assert destination == ("127.0.0.1", port)
    assert data == b"PROXY payload after the header"


def v1_header(source, sport, destination="127.0.0.1", dport=80):
    family = "TCP6" if ":" in source else "TCP4"
    return f"PROXY {family} {source} {destination} {sport} {dport}\r\n".encode()


def v2_header(source, sport, destination="127.0.0.1", dport=80, command=1, tlv=b""):
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    family = 0x11 if src.version == 4 else 0x21
    body = src.packed + dst.packed + struct.pack("!HH", sport, dport) + tlv
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


@pytest.mark.parametrize("make_header", [v1_header, v2_header])
def test_accept_proxy_applies_deny_to_the_carried_address(procs, make_header):
    proc, port = start_forwarder(procs, "--echo", "--accept-proxy", "--deny", "203.0.113.0/24")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        send_to_a_closing_server(client, make_header("203.0.113.7", 5000) + b"let me in")
        assert read_what_is_left(client) == b""
    denied = proc.wait_event("denied")
    assert denied["peer"] == {"address": "203.0.113.7", "port": 5000}
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        send_all_then_shut(client, make_header("198.51.100.1", 6000) + b"echo me")
        assert recv_to_eof(client) == b"echo me"
    assert proc.wait_event("connection")["peer"] == {"address": "198.51.100.1", "port": 6000}
    close = proc.wait_event("close")
    assert close["peer"]["address"] == "198.51.100.1" and close["bytes_in"] == 7


def test_accept_proxy_v2_local_keeps_the_real_address_and_tlvs_are_skipped(procs):
    proc, port = start_forwarder(procs, "--echo", "--accept-proxy")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        me = client.getsockname()
        send_all_then_shut(client, v2_header("192.0.2.1", 1, command=0) + b"health")
        assert recv_to_eof(client) == b"health"
    assert proc.wait_event("connection")["peer"] == {"address": me[0], "port": me[1]}
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        send_all_then_shut(client, v2_header("192.0.2.2", 2, tlv=b"\x01\x00\x02h2") + b"alpn")
        assert recv_to_eof(client) == b"alpn"
    assert proc.wait_event("connection")["peer"] == {"address": "192.0.2.2", "port": 2}


def test_accept_proxy_sets_the_exec_environment(procs):
    proc, port = start_forwarder(procs, "--accept-proxy", "--sh-exec",
                                 'echo "$NETTOOL_PEER_ADDR $NETTOOL_PEER_PORT"')
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        send_all_then_shut(client, v1_header("2001:db8::5", 4242, "::1"))
        assert recv_to_eof(client) == b"2001:db8::5 4242\n"


def test_accept_proxy_then_send_proxy_passes_the_carried_address_on(procs):
    backend = Server(proxy_reading_target)
    proc, port = start_forwarder(procs, "--accept-proxy", "--to", f"127.0.0.1:{backend.port}",
                                 "--send-proxy", "v2")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        send_all_then_shut(client, v1_header("192.0.2.44", 1234, "198.51.100.9", 443) + b"x")
        assert recv_to_eof(client) == b"ok"
    backend.join()
    assert backend.received[0] == (("192.0.2.44", 1234), ("198.51.100.9", 443), b"x")


@pytest.mark.parametrize("name,data,reason", [
    ("missing", b"GET / HTTP/1.0\r\n\r\n", "starts with neither"),
    ("malformed", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "a port is not a number"),
    ("oversized v1", b"PROXY UNKNOWN " + b"x" * 200, "no CRLF within 107 bytes"),
    ("oversized v2", V2_SIGNATURE + b"\x21\x11\xff\xff" + b"\x00" * 100, "more than"),
    ("cut short", b"PROXY TCP4 1.2.3.4", "closed before sending a complete PROXY"),
])
def test_bad_headers_close_the_connection_with_a_reason(procs, name, data, reason):
    proc, port = start_forwarder(procs, "--echo", "--accept-proxy")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        send_to_a_closing_server(client, data)
        assert read_what_is_left(client) == b""  # nothing echoed
    warning = proc.wait_event("warning")["message"]
    assert "closing the connection from 127.0.0.1:" in warning
    assert reason in warning, warning
    assert proc.p.poll() is None


def test_a_slow_header_is_given_up_after_its_deadline(procs):
    proc, port = start_forwarder(procs, "--echo", "--accept-proxy")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        client.sendall(b"PROXY TCP4 ")  # and nothing more
        warning = proc.wait_event("warning")["message"]
        assert "no complete PROXY protocol header within 5 s" in warning
        assert read_what_is_left(client) == b""


@pytest.mark.parametrize("args,fragment", [
    (["--to", "127.0.0.1:9", "--echo"], "--echo and --to cannot be used together"),
    (["--send-proxy", "v1"], "--send-proxy sends a header to a forwarding target"),
    (["--to", "127.0.0.1:9", "--send-proxy", "v3"], "v3"),
    (["-u", "--to", "127.0.0.1:9"], "--to forwards stream connections"),
    (["--to", "udp://127.0.0.1:9"], "give a TCP or Unix target"),
    (["--to", "127.0.0.1:9,"], "--to"),
])
def test_usage_errors(args, fragment):
    result = run("serve", "127.0.0.1:0", *args)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert fragment in stderr
    assert stderr.count("\n") == 1
