"""TLS for connect and serve (nettool-connect(1) TLS, nettool-serve(1) TLS): verification on by
default with a distinct sentence per failure (exit 5), --cafile, --insecure, --servername,
client certificates, against `openssl s_server` with a test PKI made here by the openssl
command line; serve --tls with curl, openssl s_client and nettool itself as clients; half-close
by close_notify each way; resets and truncations; hostile peers."""
import os
import socket
import subprocess
import threading

import pytest

from conftest import DEADLINE, NETTOOL, run
from connect_helpers import Server, reset
from tls_helpers import Pki, start_s_server

pytestmark = pytest.mark.skipif(subprocess.run(["which", "openssl"], capture_output=True)
                                .returncode != 0, reason="needs the openssl command")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


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
    (["--tls", "--proxy", "socks5://127.0.0.1:1"], "--tls cannot go through --proxy"),
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


def test_connect_tls_all_proxy_is_a_usage_error_with_the_way_out(procs, pki):
    env = dict(os.environ, ALL_PROXY="socks5://127.0.0.1:1")
    r = run("connect", "--tls", "localhost", "1", env=env)
    assert r.returncode == 2
    assert "--proxy ''" in stderr_of(r)


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
