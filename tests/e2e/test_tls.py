"""TLS for connect and serve (nettool-connect(1) TLS, nettool-serve(1) TLS): verification on by
default with a distinct sentence per failure (exit 5), --cafile, --insecure, --servername,
client certificates, against `openssl s_server` with a test PKI made here by the openssl
command line; serve --tls with curl, openssl s_client and nettool itself as clients; half-close
by close_notify each way; resets and truncations; hostile peers."""
import hashlib
import os
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import DEADLINE, NETTOOL, recv_all, run
from connect_helpers import (BIG, PipeReader, Server, big_payload_file, ipv6_available, reset,
                             wait_until)
from serve_helpers import port_of, read_events_until_exit, start_serve
from tls_helpers import needs_openssl, pki, read_stdout_line, start_s_server  # noqa: F401 (pki: a fixture)

pytestmark = needs_openssl


def tls_connect(port, *args, host="localhost", input=b"hello\n", timeout=DEADLINE):
    return run("connect", "--tls", *args, host, str(port), input=input, timeout=timeout)


def stderr_of(r):
    return r.stderr.decode(errors="replace")


# --- connect --tls: verification -------------------------------------------------------------


def test_connect_verifies_with_cafile_by_name_and_by_address(procs, pki):
    _, port = start_s_server(procs, pki, "server", "-rev")
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "-v")
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"olleh\n"
    assert "certificate of CN=localhost verified" in stderr_of(r)
    _, port = start_s_server(procs, pki, "server", "-rev")
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), host="127.0.0.1")
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"olleh\n"


def test_connect_system_store_does_not_know_the_test_ca(procs, pki):
    _, port = start_s_server(procs, pki, "server", "-rev")
    r = tls_connect(port)
    assert r.returncode == 5, stderr_of(r)
    assert f"the certificate of localhost:{port} was issued by an unknown certificate " \
           "authority" in stderr_of(r)
    assert r.stdout == b""


# Each failure: its own sentence, naming the host, and what to do.
FAILURES = {
    "expired": "expired on 2020-02-01",
    "wrong_name": "is not for 'localhost' (it names DNS:other.example)",
    "self_signed": "presented a self-signed certificate",
    "unknown_ca": "was issued by an unknown certificate authority (CN=nettool test other_ca)",
}


@pytest.mark.parametrize("cert", sorted(FAILURES))
def test_connect_verification_failures_exit_5_with_a_sentence_each(procs, pki, cert):
    _, port = start_s_server(procs, pki, cert, "-rev")
    r = tls_connect(port, "--cafile", pki.path("ca.pem"))
    assert r.returncode == 5, stderr_of(r)
    err = stderr_of(r)
    assert FAILURES[cert] in err
    assert f"localhost:{port}" in err
    assert len(err.strip().splitlines()) == 1, err
    assert r.stdout == b""
    others = [text for name, text in FAILURES.items() if name != cert]
    assert not any(text in err for text in others)


def test_connect_insecure_skips_verification(procs, pki):
    for cert in ("self_signed", "expired"):
        _, port = start_s_server(procs, pki, cert, "-rev")
        r = tls_connect(port, "--insecure", "-v")
        assert r.returncode == 0, stderr_of(r)
        assert r.stdout == b"olleh\n"
        assert "not verified (--insecure)" in stderr_of(r)


def test_connect_servername_sets_sni_and_the_name_checked(procs, pki):
    # s_server answers the SNI "other.example" with the certificate for that name, any other
    # with the one for localhost.
    by_name = ("-rev", "-servername", "other.example", "-cert2", pki.path("wrong_name.pem"),
               "-key2", pki.path("wrong_name.key"))
    _, port = start_s_server(procs, pki, "server", *by_name)
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--servername", "other.example", "-v")
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"olleh\n"
    assert "certificate of CN=other.example verified" in stderr_of(r)
    _, port = start_s_server(procs, pki, "server", *by_name)
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "-v")
    assert r.returncode == 0, stderr_of(r)
    assert "certificate of CN=localhost verified" in stderr_of(r)


def test_connect_client_certificate_required_and_presented(procs, pki):
    required = ("-rev", "-Verify", "1", "-verify_return_error", "-CAfile", pki.path("ca.pem"))
    _, port = start_s_server(procs, pki, "server", *required)
    r = tls_connect(port, "--cafile", pki.path("ca.pem"))
    assert r.returncode == 5, stderr_of(r)
    assert f"localhost:{port} requires a client certificate" in stderr_of(r)
    assert "--cert FILE --key FILE" in stderr_of(r)
    s_server, port = start_s_server(procs, pki, "server", *required)
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--cert", pki.path("client.pem"),
                    "--key", pki.path("client.key"))
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"olleh\n"


def test_connect_client_certificate_refused_by_the_server(procs, pki):
    _, port = start_s_server(procs, pki, "server", "-rev", "-Verify", "1", "-verify_return_error",
                             "-CAfile", pki.path("ca.pem"))
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--cert", pki.path("stranger.pem"),
                    "--key", pki.path("stranger.key"))
    assert r.returncode == 5, stderr_of(r)
    assert f"localhost:{port} refused our client certificate" in stderr_of(r)


# --- connect --tls: usage and local files -----------------------------------------------------


@pytest.mark.parametrize("args,words", [
    (["--cafile", "x.pem"], "--cafile is a TLS option; add --tls"),
    (["--insecure"], "--insecure is a TLS option"),
    (["--tls", "-u"], "--tls runs over TCP"),
    (["--tls", "-z"], "drop --tls"),
    (["--tls", "--cert", "c.pem"], "--cert needs the certificate's private key"),
    (["--tls", "--key", "k.pem"], "--key needs its certificate"),
    (["--tls", "--insecure", "--cafile", "x.pem"], "drop one of them"),
    (["--tls", "--cafile", ""], "empty"),
    (["--tls", "--servername", ""], "empty"),
    (["--tls", "--cert", "", "--key", "k"], "empty"),
])
def test_connect_tls_usage_errors_exit_2(args, words):
    r = run("connect", *args, "localhost", "1")
    assert r.returncode == 2, stderr_of(r)
    assert words in stderr_of(r)


def test_connect_tls_unix_endpoint_is_a_usage_error():
    r = run("connect", "--tls", "unix:/nonexistent.sock")
    assert r.returncode == 2
    assert "not a Unix socket" in stderr_of(r)


def test_connect_tls_local_files_exit_3_before_connecting(pki, tmp_path):
    # Nothing listens on the port: a file error must come first.
    missing = str(tmp_path / "missing.pem")
    r = run("connect", "--tls", "--cafile", missing, "localhost", "1")
    assert r.returncode == 3, stderr_of(r)
    assert f"cannot read --cafile '{missing}'" in stderr_of(r)
    r = run("connect", "--tls", "--cert", missing, "--key", pki.path("client.key"), "localhost",
            "1")
    assert r.returncode == 3 and f"--cert '{missing}'" in stderr_of(r)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    r = run("connect", "--tls", "--cafile", str(garbage), "localhost", "1")
    assert r.returncode == 3 and "holds no usable PEM certificate" in stderr_of(r)
    r = run("connect", "--tls", "--cert", pki.path("client.pem"), "--key", pki.path("server.key"),
            "localhost", "1")
    assert r.returncode == 3, stderr_of(r)
    assert "does not belong to the certificate" in stderr_of(r)
    r = run("connect", "--tls", "--cafile", str(tmp_path), "localhost", "1")
    assert r.returncode == 3 and "not a regular file" in stderr_of(r)


# --- connect --tls: hostile servers ---------------------------------------------------------


def test_connect_tls_to_a_plain_text_server_exits_5(pki):
    def greet(server, conn):
        conn.sendall(b"220 plain text here, no TLS at all\r\n" * 4)
        conn.recv(65536)
    s = Server(greet)
    r = tls_connect(s.port, "--cafile", pki.path("ca.pem"), input=b"")
    s.join()
    assert r.returncode == 5, stderr_of(r)
    assert f"localhost:{s.port} does not speak TLS" in stderr_of(r)


def test_connect_tls_server_resetting_mid_handshake_exits_4(pki):
    def reset_after_hello(server, conn):
        conn.recv(5)  # the start of the ClientHello
        reset(conn)
    s = Server(reset_after_hello)
    r = tls_connect(s.port, "--cafile", pki.path("ca.pem"), input=b"")
    s.join()
    assert r.returncode == 4, stderr_of(r)
    assert f"localhost:{s.port} reset the connection during the TLS handshake" in stderr_of(r)


def test_connect_tls_silent_server_times_out_with_w(pki):
    def silent(server, conn):
        conn.settimeout(DEADLINE)
        try:
            conn.recv(65536)
            conn.recv(65536)  # waits for nettool to give up and close
        except OSError:
            pass
    s = Server(silent)
    r = tls_connect(s.port, "--cafile", pki.path("ca.pem"), "-w", "300ms", input=b"")
    s.join()
    assert r.returncode == 4, stderr_of(r)
    assert "no TLS handshake within 300ms" in stderr_of(r)


# --- serve --tls ------------------------------------------------------------------------------


def serve_tls(procs, pki, *args, stdin=subprocess.DEVNULL, cert="server"):
    """`nettool serve --tls --cert --key ARGS 127.0.0.1:0 --json`; returns (proc, port)."""
    proc, events = start_serve(procs, "--tls", "--cert", pki.path(cert + ".pem"), "--key",
                               pki.path(cert + ".key"), *args, "127.0.0.1:0", stdin=stdin)
    return proc, port_of(events)


HTTP_REPLY = "HTTP/1.0 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"


def test_serve_greet_to_curl_with_cacert(procs, pki):
    proc, port = serve_tls(procs, pki, "--greet=" + HTTP_REPLY, "-k")
    r = subprocess.run(["curl", "-sS", "--max-time", str(DEADLINE), "--cacert", pki.path("ca.pem"),
                        f"https://localhost:{port}/"], capture_output=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello\n"
    event = proc.wait_event("connection")
    assert event["tls"]["protocol"].startswith("TLSv1.")
    assert "peer_subject" not in event["tls"]
    # Without the CA curl refuses the certificate: the server logs the failed handshake, and
    # keeps serving (-k).
    r = subprocess.run(["curl", "-sS", "--max-time", str(DEADLINE), f"https://localhost:{port}/"],
                       capture_output=True, timeout=DEADLINE)
    assert r.returncode == 60, r.stderr
    warning = proc.wait_event("warning")
    assert "alert" in warning["message"] and "127.0.0.1:" in warning["message"]


def test_serve_greet_to_openssl_s_client(procs, pki):
    proc, port = serve_tls(procs, pki, "--greet")
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile",
                        pki.path("ca.pem"), "-verify_return_error", "-verify_hostname",
                        "localhost", "-quiet"], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=DEADLINE)
    assert r.stdout == b"Thank you for connecting!\n", r.stderr
    assert proc.wait(timeout=DEADLINE) == 0


def test_serve_echo_to_nettool_connect(procs, pki):
    proc, port = serve_tls(procs, pki, "--echo", "-k")
    payload = os.urandom(300_000)
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), input=payload)
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == payload
    assert proc.wait_event("connection")["tls"]["cipher"]
    close = proc.wait_event("close")
    assert close["bytes_in"] == close["bytes_out"] == len(payload)


@pytest.mark.parametrize("model", ["thread", "fork"])
def test_serve_tls_under_the_thread_and_fork_models(procs, pki, model):
    # The handshake and the bridge run inside the connection's own thread or process; with
    # mutual TLS the verified subject still reaches the event and the program's environment.
    proc, port = serve_tls(procs, pki, "--model", model, "-k", "--client-ca", pki.path("ca.pem"),
                           "--sh-exec", 'printf "%s|" "$NETTOOL_PEER_CERT"; cat')
    for _ in range(3):
        payload = os.urandom(200_000)
        r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--cert", pki.path("client.pem"),
                        "--key", pki.path("client.key"), input=payload)
        assert r.returncode == 0, stderr_of(r)
        assert r.stdout == b"CN=alice|" + payload
        assert proc.wait_event("connection")["tls"]["peer_subject"] == "CN=alice"
        close = proc.wait_event("close")
        assert close["bytes_in"] == len(payload)


def test_serve_send_file_over_tls(procs, pki, tmp_path):
    data = os.urandom(1 << 20)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    proc, port = serve_tls(procs, pki, "--send-file", str(path))
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), input=b"")
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == data


def test_serve_client_ca_exec_sees_the_verified_subject(procs, pki):
    proc, port = serve_tls(procs, pki, "--client-ca", pki.path("ca.pem"), "-k", "--sh-exec",
                           'printf "%s|" "$NETTOOL_PEER_CERT"; cat')
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--cert", pki.path("client.pem"),
                    "--key", pki.path("client.key"), input=b"ping")
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"CN=alice|ping"
    event = proc.wait_event("connection")
    assert event["tls"]["peer_subject"] == "CN=alice"
    assert event["tls"]["peer_issuer"] == "CN=nettool test ca"


def test_serve_client_ca_refuses_clients_without_a_good_certificate(procs, pki):
    proc, port = serve_tls(procs, pki, "--client-ca", pki.path("ca.pem"), "-k", "--echo")
    # No certificate: refused, with the reason on both sides, and no connection event.
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), input=b"ping")
    assert r.returncode == 5, stderr_of(r)
    assert "requires a client certificate" in stderr_of(r)
    warning = proc.wait_event("warning")
    assert "presented no client certificate, and --client-ca requires one" in warning["message"]
    # A certificate from another CA: refused too.
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--cert", pki.path("stranger.pem"),
                    "--key", pki.path("stranger.key"), input=b"ping")
    assert r.returncode == 5, stderr_of(r)
    warning = proc.wait_event("warning")
    assert "unknown certificate authority (CN=nettool test other_ca)" in warning["message"]
    # curl without a certificate fails; with one it gets through.
    r = subprocess.run(["curl", "-sS", "--max-time", str(DEADLINE), "--cacert", pki.path("ca.pem"),
                        "--cert", pki.path("client.pem"), "--key", pki.path("client.key"),
                        "--data-binary", "x", f"https://localhost:{port}/"], capture_output=True,
                       timeout=DEADLINE)
    event = proc.wait_event("connection")
    assert event["tls"]["peer_subject"] == "CN=alice"
    proc.signal(15)
    events = read_events_until_exit(proc)
    assert not [e for e in events if e["event"] == "connection" and "peer_subject" not in
                e.get("tls", {})]


def test_serve_self_signed_fingerprint_matches_what_s_client_sees(procs):
    proc, events = start_serve(procs, "--tls", "--tls-self-signed", "--greet", "127.0.0.1:0")
    announced = proc.wait_event("tls")
    assert announced["self_signed"] is True
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port_of(events)}"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=DEADLINE)
    seen = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                          input=r.stdout, capture_output=True, timeout=DEADLINE)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.decode().strip().split("=", 1)[1] == announced["fingerprint_sha256"]
    # And the text form says it without -v.
    p = procs([NETTOOL, "serve", "--tls", "--tls-self-signed", "--greet", "127.0.0.1:0"])
    p.read_stderr_line()
    line = p.read_stderr_line()
    assert "self-signed" in line and "SHA-256 fingerprint" in line


def test_serve_tls_relay_stdin_stdout_both_ways(procs, pki):
    proc, port = serve_tls(procs, pki, stdin=subprocess.PIPE)
    proc.p.stdin.write(b"from the server\n")
    proc.p.stdin.close()
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), input=b"from the client\n")
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"from the server\n"
    assert proc.wait(timeout=DEADLINE) == 0
    assert proc.p.stdout.read() == b"from the client\n"


@pytest.mark.parametrize("args,words,code", [
    (["--cert", "c.pem", "--key", "k.pem"], "--cert is a TLS option; add --tls", 2),
    (["--tls-self-signed"], "add --tls", 2),
    (["--tls"], "serve --tls needs a certificate", 2),
    (["--tls", "--cert", "c.pem"], "--cert needs its private key", 2),
    (["--tls", "--tls-self-signed", "--cert", "c.pem", "--key", "k.pem"], "drop --cert", 2),
    (["--tls", "--tls-self-signed", "-u"], "drop -u", 2),
    (["--tls", "--tls-self-signed", "--client-ca", ""], "empty", 2),
    (["--tls", "--cert", "", "--key", "k.pem"], "empty", 2),
])
def test_serve_tls_usage_errors_exit_2(args, words, code):
    r = run("serve", *args, "127.0.0.1:0")
    assert r.returncode == code, stderr_of(r)
    assert words in stderr_of(r)
    assert "listening" not in stderr_of(r)


def test_serve_tls_file_errors_exit_3_before_listening(pki, tmp_path):
    missing = str(tmp_path / "nope.key")
    r = run("serve", "--tls", "--cert", pki.path("server.pem"), "--key", missing, "127.0.0.1:0")
    assert r.returncode == 3, stderr_of(r)
    assert f"cannot read --key '{missing}'" in stderr_of(r)
    assert "listening" not in stderr_of(r)
    r = run("serve", "--tls", "--cert", pki.path("server.pem"), "--key", pki.path("client.key"),
            "127.0.0.1:0")
    assert r.returncode == 3 and "does not belong to the certificate" in stderr_of(r)
    r = run("serve", "--tls", "--tls-self-signed", "--client-ca", missing, "127.0.0.1:0")
    assert r.returncode == 3 and f"--client-ca '{missing}'" in stderr_of(r)
    unreadable = tmp_path / "unreadable.pem"
    unreadable.write_text("x")
    unreadable.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        r = run("serve", "--tls", "--cert", str(unreadable), "--key", pki.path("server.key"),
                "127.0.0.1:0")
        assert r.returncode == 3 and "permission denied" in stderr_of(r)


# --- serve --tls: hostile clients -------------------------------------------------------------


def read_until_closed(sock):
    """What a peer sends until it closes (FIN) or resets; (bytes, reset?)."""
    try:
        return recv_all(sock), False
    except ConnectionResetError:
        return b"", True


def test_serve_silent_and_garbage_clients_do_not_hold_up_others(procs, pki):
    proc, port = serve_tls(procs, pki, "--echo", "-k", "--idle-timeout", "700ms")
    silent = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    garbage = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    garbage.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(2000))
    resetter = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    resetter.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
    reset(resetter)
    # Another client is served while those sit there.
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), input=b"still served")
    assert r.returncode == 0 and r.stdout == b"still served", stderr_of(r)
    # The garbage is answered (an alert at most) and closed; the silent client is closed by
    # the idle timeout; each with a reason in the log.
    data, _ = read_until_closed(garbage)
    assert len(data) < 100
    assert read_until_closed(silent) == (b"", False)
    messages = [proc.wait_event("warning")["message"] for _ in range(2)]
    assert any("127.0.0.1:" in m and "does not speak TLS" in m for m in messages), messages
    assert any("reset the connection during the TLS handshake" in m for m in messages), messages
    silent.close()
    garbage.close()
    assert proc.p.poll() is None


def test_serve_tls_without_k_a_failed_handshake_is_the_exit_status(procs, pki):
    proc, port = serve_tls(procs, pki, "--echo")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        s.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        read_until_closed(s)
    assert proc.wait(timeout=DEADLINE) == 5
    events = read_events_until_exit(proc)
    assert events[-1]["event"] == "error" and events[-1]["exit"] == 5
    assert "does not speak TLS" in events[-1]["message"]
    assert not [e for e in events if e["event"] in ("connection", "close")]


def test_serve_tls_idle_client_is_closed_by_the_idle_timeout(procs, pki):
    proc, port = serve_tls(procs, pki, "--echo", "--idle-timeout", "300ms")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
        assert read_until_closed(s) == (b"", False)
    assert proc.wait(timeout=DEADLINE) == 0  # an idle timeout is no failure of serve


def test_serve_tls_huge_certificate_chain_from_a_client_is_refused(procs, pki, tmp_path):
    # A client certificate followed by 400 KB of (repeated) chain certificates: more than
    # OpenSSL's limit on what a peer may send; the handshake fails, the server goes on.
    chain = tmp_path / "huge.pem"
    one = open(pki.path("ca.pem")).read()
    chain.write_text(open(pki.path("client.pem")).read() + one * 700)
    proc, port = serve_tls(procs, pki, "--client-ca", pki.path("ca.pem"), "-k", "--echo")
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--cert", str(chain), "--key",
                    pki.path("client.key"), input=b"x")
    assert r.returncode in (4, 5), stderr_of(r)
    assert "over the size limit" in proc.wait_event("warning")["message"]
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--cert", pki.path("client.pem"),
                    "--key", pki.path("client.key"), input=b"ok")
    assert r.returncode == 0 and r.stdout == b"ok", stderr_of(r)


# --- half-close over TLS: close_notify each way ---------------------------------------------


def feed_when(pipe, path, condition):
    """Writes the file at `path` into `pipe` once condition() holds, then closes it (a thread)."""
    def run_():
        wait_until(condition, timeout=60)
        with open(path, "rb") as f:
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                pipe.write(block)
        pipe.close()
    t = threading.Thread(target=run_, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("first", ["client", "server"])
def test_50_mib_each_way_half_close_first_by(procs, pki, tmp_path, first):
    """The side that half-closes first sends its 50 MiB from a file (its input ends, close_notify
    goes out); the other side's input is a pipe fed only after the first side's data has all
    arrived there and that side's output reached end-of-file: so each direction ends on its own
    and the later one still flows after the earlier close_notify."""
    client_file, client_sha = big_payload_file(tmp_path, "client.bin")
    server_file, server_sha = big_payload_file(tmp_path, "server.bin")
    server_in = open(server_file, "rb") if first == "server" else subprocess.PIPE
    proc, port = serve_tls(procs, pki, stdin=server_in)
    server_out = PipeReader(proc.p.stdout)
    client_in = open(client_file, "rb") if first == "client" else subprocess.PIPE
    client = procs([NETTOOL, "connect", "--tls", "--cafile", pki.path("ca.pem"), "localhost",
                    str(port)], stdin=client_in)
    client_out = PipeReader(client.p.stdout)
    if first == "client":
        feeder = feed_when(proc.p.stdin, server_file, lambda: server_out.eof_at is not None)
    else:
        feeder = feed_when(client.p.stdin, client_file, lambda: client_out.eof_at is not None)
    assert client_out.join(timeout=60) == server_sha
    assert server_out.join(timeout=60) == client_sha
    assert client_out.size == server_out.size == BIG
    feeder.join(60)
    assert client.wait(timeout=DEADLINE) == 0, client.rest_of_stderr()
    assert proc.wait(timeout=DEADLINE) == 0, proc.rest_of_stderr()


def test_dev_null_on_each_end(procs, pki, tmp_path):
    path, sha = big_payload_file(tmp_path, "data.bin", size=5 << 20)
    # The client sends nothing (its close_notify at once) and reads the server's file.
    proc, port = serve_tls(procs, pki, stdin=open(path, "rb"))
    r = run("connect", "--tls", "--cafile", pki.path("ca.pem"), "localhost", str(port),
            stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0, stderr_of(r)
    assert hashlib.sha256(r.stdout).hexdigest() == sha
    assert proc.wait(timeout=DEADLINE) == 0
    # The server sends nothing and reads the client's file.
    proc, port = serve_tls(procs, pki, stdin=subprocess.DEVNULL)
    server_out = PipeReader(proc.p.stdout)
    with open(path, "rb") as f:
        r = run("connect", "--tls", "--cafile", pki.path("ca.pem"), "localhost", str(port),
                stdin=f, timeout=60)
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b""
    assert server_out.join(timeout=60) == sha
    assert proc.wait(timeout=DEADLINE) == 0


def python_tls_server(pki, handler):
    """A TLS server in a thread (Python's ssl module) with pki's server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))

    def wrapped(server, conn):
        tls = context.wrap_socket(conn, server_side=True)
        handler(tls)
    return Server(wrapped)


def test_connect_tls_reset_mid_stream_exits_4(pki):
    def send_then_reset(tls):
        tls.sendall(b"x" * 100_000)
        reset(tls)
    s = python_tls_server(pki, send_then_reset)
    r = run("connect", "--tls", "--cafile", pki.path("ca.pem"), "localhost", str(s.port),
            input=b"")
    s.join()
    assert r.returncode == 4, stderr_of(r)
    assert f"localhost:{s.port}: connection reset by peer before the end of its data" in \
        stderr_of(r)
    assert r.stdout == b"x" * len(r.stdout)


def test_connect_tls_truncation_without_close_notify_is_an_error(pki):
    def send_then_fin(tls):
        tls.sendall(b"partial answer")
        tls.shutdown(socket.SHUT_WR)  # a TCP FIN, no close_notify
        tls.recv(1)
    s = python_tls_server(pki, send_then_fin)
    # Standard input stays open: our close_notify has not gone out when the FIN comes.
    p = subprocess.Popen([NETTOOL, "connect", "--tls", "--cafile", pki.path("ca.pem"),
                          "localhost", str(s.port)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        returncode = p.wait(timeout=DEADLINE)  # exits on the truncation, stdin still open
        out, err = p.stdout.read(), p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
        for f in (p.stdin, p.stdout, p.stderr):
            f.close()
    s.join()
    assert returncode == 4, err
    assert b"without a TLS close_notify: its data may have been cut short" in err
    assert out == b"partial answer"


def test_connect_tls_fin_without_close_notify_after_ours_is_the_servers_end(pki):
    # nginx's habit: once the client's close_notify has come, it closes without its own.
    def answer_after_our_end(tls):
        assert tls.recv(100) == b"request"
        try:
            tls.recv(1)  # our close_notify: the ssl module reports it as a clean end
        except ssl.SSLError:
            pass
        tls.sendall(b"the whole answer")
        tls.shutdown(socket.SHUT_WR)  # a TCP FIN, no close_notify
    s = python_tls_server(pki, answer_after_our_end)
    r = run("connect", "--tls", "--cafile", pki.path("ca.pem"), "localhost", str(s.port),
            input=b"request")
    s.join()
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"the whole answer"


def test_serve_tls_client_reset_mid_stream_is_reported(procs, pki):
    proc, port = serve_tls(procs, pki, stdin=subprocess.PIPE)
    context = ssl.create_default_context(cafile=pki.path("ca.pem"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    tls = context.wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"y" * 50_000)
    reset(tls)
    assert proc.wait(timeout=DEADLINE) == 4
    events = read_events_until_exit(proc)
    assert "connection reset by peer before the end of its data" in events[-1]["message"]


def test_serve_tls_client_truncation_is_reported_not_taken_as_its_end(procs, pki):
    proc, port = serve_tls(procs, pki, "--echo", "-k")
    context = ssl.create_default_context(cafile=pki.path("ca.pem"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    tls = context.wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"cut")
    tls.shutdown(socket.SHUT_WR)  # a TCP FIN without close_notify
    warning = proc.wait_event("warning")
    assert "closed the TCP connection without a TLS close_notify" in warning["message"]
    raw.close()


def test_serve_tls_client_fin_after_servers_close_notify_is_its_end(procs, pki):
    # The mirror of connect's nginx case: serve's input (/dev/null) ends at once, so its
    # close_notify goes out first; the client's data then ends with a bare TCP FIN.
    proc, port = serve_tls(procs, pki)
    context = ssl.create_default_context(cafile=pki.path("ca.pem"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    tls = context.wrap_socket(raw, server_hostname="localhost")
    assert tls.recv(100) == b""  # serve's close_notify
    tls.sendall(b"the client's answer")
    tls.shutdown(socket.SHUT_WR)  # a TCP FIN without close_notify
    assert proc.wait(timeout=DEADLINE) == 0
    assert proc.p.stdout.read() == b"the client's answer"
    events = read_events_until_exit(proc)
    assert not [e for e in events if e["event"] in ("warning", "error")], events
    raw.close()


def test_serve_tls_terminates_for_a_forward_target(procs, pki):
    def answer(server, conn):
        conn.sendall(b"plain:" + conn.recv(100))
    target = Server(answer)
    proc, port = serve_tls(procs, pki, "--to", f"127.0.0.1:{target.port}")
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), input=b"hi")
    target.join()
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"plain:hi"


def test_only_a_tls_connection_maps_the_module(procs, pki):
    """Start-up rule: OpenSSL comes with the module, loaded for --tls only (test_startup.py
    holds the plain cases)."""
    from test_startup import mapped_libraries
    _, port = start_s_server(procs, pki, "server", "-rev")
    client = procs([NETTOOL, "connect", "--tls", "--cafile", pki.path("ca.pem"), "localhost",
                    str(port)], stdin=subprocess.PIPE)
    # dlopen maps the module first and its libraries after it: wait for both.
    def loaded():
        names = mapped_libraries(client.pid)
        return "nettool-http.so" in names and any(n.startswith("libssl.so") for n in names)

    assert wait_until(loaded), mapped_libraries(client.pid)


def test_connect_tls_max_bytes_closes_without_waiting_for_the_server(procs, pki):
    proc, port = serve_tls(procs, pki, "--sh-exec", "yes nettool", "-k")
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), "--max-bytes", "100", input=b"",
                    timeout=5)
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"nettool\n" * 12 + b"nett"


def test_serve_tls_with_workers(procs, pki):
    proc, port = serve_tls(procs, pki, "--echo", "-k", "--workers", "2")
    for i in range(6):
        r = tls_connect(port, "--cafile", pki.path("ca.pem"), input=b"worker %d" % i)
        assert r.returncode == 0 and r.stdout == b"worker %d" % i, stderr_of(r)


@pytest.mark.skipif(not ipv6_available(), reason="needs IPv6 on loopback")
def test_connect_verifies_an_ipv6_address_against_its_ip_san(procs, pki):
    proc = procs(["openssl", "s_server", "-accept", "[::1]:0", "-cert", pki.path("server.pem"),
                  "-key", pki.path("server.key"), "-rev"])
    port = int(read_stdout_line(proc, r"^ACCEPT .*:(\d+)$").group(1))
    r = tls_connect(port, "--cafile", pki.path("ca.pem"), host="::1")
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"olleh\n"
