"""connect --tls through a proxy (nettool-connect(1), TLS and PROXIES): the handshake runs over
the tunnel's socket, verified against the target (never the proxy) with the target as SNI.
The target is named by a host name only the proxy resolves (proxy_helpers.py's `names`), so
the proxy did the resolution; the Python SOCKS5 and HTTP CONNECT proxies of
test_connect_proxy.py carry it to `openssl s_server` or `nettool serve --tls`."""
import hashlib
import os
import re
import subprocess

import pytest

from conftest import DEADLINE, NETTOOL, run
from connect_helpers import Server, closed_port_socket, reset
from proxy_helpers import HttpConnectProxy, Socks5Proxy
from serve_helpers import port_of, start_serve
from test_connect_proxy import SECRET, clean_env, make_proxy, one_error_line, proxy_url
from tls_helpers import Pki, needs_openssl, start_s_server

pytestmark = needs_openssl

# A name in the reserved .test domain that nothing but the proxies' own table resolves.
BACKEND = "backend.test"
NAMES = {BACKEND: "127.0.0.1"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = Pki(tmp_path_factory.mktemp("pki"))
    pki.leaf("backend", BACKEND, f"DNS:{BACKEND}")
    return pki


def tls_connect(*args, input=b"hello\n", env=None, timeout=DEADLINE):
    return run("connect", "--tls", *args, input=input, env=env or clean_env(), timeout=timeout)


def stderr_of(r):
    return r.stderr.decode(errors="replace")


@pytest.mark.parametrize("kind,auth", [("socks5", False), ("socks5", True), ("http", True)])
def test_tls_through_the_proxy_is_verified_against_the_target(procs, pki, kind, auth):
    _, port = start_s_server(procs, pki, "backend", "-rev")
    user, password = ("alice", SECRET) if auth else (None, None)
    with make_proxy(kind, user=user, password=password, names=NAMES) as proxy:
        r = tls_connect("-v", "--cafile", pki.path("ca.pem"), "--proxy",
                        proxy_url(kind, proxy, user, password), BACKEND, str(port))
        log = list(proxy.log)
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"olleh\n"
    err = stderr_of(r)
    assert f"connected to {BACKEND}:{port} through the proxy" in err, err
    assert f"certificate of CN={BACKEND} verified" in err, err
    assert SECRET not in err
    # The proxy was given the name: it resolved it (nettool cannot).
    assert len(log) == 1, log
    assert log[0]["host"] == BACKEND and log[0]["port"] == port
    if kind == "socks5":
        assert log[0]["address_type"] == "domain" and log[0]["user"] == user
    else:
        assert log[0]["method"] == "CONNECT" and log[0]["authorization"].startswith("Basic ")


def test_tls_through_all_proxy_to_nettool_serve_tls_carries_data_both_ways(procs, pki, tmp_path):
    payload = os.urandom(4 << 20)
    src = tmp_path / "in.bin"
    src.write_bytes(payload)
    proc, events = start_serve(procs, "--tls", "--cert", pki.path("backend.pem"), "--key",
                               pki.path("backend.key"), "--echo", "127.0.0.1:0")
    port = port_of(events)
    with Socks5Proxy(names=NAMES) as proxy:
        env = clean_env(ALL_PROXY=proxy_url("socks5", proxy))
        with open(src, "rb") as stdin:
            r = subprocess.run([NETTOOL, "connect", "--tls", "--cafile", pki.path("ca.pem"),
                                BACKEND, str(port)], stdin=stdin, capture_output=True,
                               timeout=60, env=env)
        log = list(proxy.log)
    assert r.returncode == 0, stderr_of(r)
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert [e["host"] for e in log] == [BACKEND]
    connection = proc.wait_event("connection")
    assert connection["tls"]["protocol"].startswith("TLS")


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_a_wrong_name_certificate_behind_the_proxy_exits_5(procs, pki, kind):
    # The target's certificate is for localhost, not for the name asked for.
    _, port = start_s_server(procs, pki, "server", "-rev")
    with make_proxy(kind, names=NAMES) as proxy:
        r = tls_connect("--cafile", pki.path("ca.pem"), "--proxy", proxy_url(kind, proxy),
                        BACKEND, str(port))
    err = one_error_line(r, 5)
    assert f"is not for '{BACKEND}' (it names DNS:localhost" in err, err
    assert f"{BACKEND}:{port} through the proxy" in err, err
    assert r.stdout == b""


def test_the_proxys_own_name_is_not_what_is_verified(procs, pki):
    # --servername changes the name checked; the proxy (127.0.0.1) never enters into it.
    _, port = start_s_server(procs, pki, "server", "-rev")
    with Socks5Proxy(names=NAMES) as proxy:
        r = tls_connect("--cafile", pki.path("ca.pem"), "--servername", "localhost", "--proxy",
                        proxy_url("socks5", proxy), BACKEND, str(port))
    assert r.returncode == 0, stderr_of(r)
    assert r.stdout == b"olleh\n"


def test_refusals_exit_4_and_bad_credentials_6_with_tls(pki):
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    ca = ("--cafile", pki.path("ca.pem"))
    with Socks5Proxy(mode=("refuse", 2)) as proxy:
        r = tls_connect(*ca, "--proxy", proxy_url("socks5", proxy), BACKEND, "443")
    assert "refused to connect to backend.test:443" in one_error_line(r, 4)
    with HttpConnectProxy(mode=("refuse", "403 Forbidden")) as proxy:
        r = tls_connect(*ca, "--proxy", proxy_url("http", proxy), BACKEND, "443")
    assert "HTTP 403 Forbidden" in one_error_line(r, 4)
    with Socks5Proxy(names=NAMES) as proxy:
        r = tls_connect(*ca, "--proxy", proxy_url("socks5", proxy), BACKEND, str(port))
    assert "connection refused (reply 5)" in one_error_line(r, 4)
    closed.close()
    for kind in ("socks5", "http"):
        with make_proxy(kind, user="alice", password="right", names=NAMES) as proxy:
            r = tls_connect(*ca, "--proxy", proxy_url(kind, proxy, "alice", SECRET), BACKEND,
                            "443")
        assert "rejected the user name and password" in one_error_line(r, 6)


# --- hostile proxies and targets ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_a_proxy_closing_right_after_its_success_reply_exits_4(pki, kind):
    target = Server(lambda server, conn: conn.recv(1))
    with make_proxy(kind, mode="close_after_reply", names=NAMES) as proxy:
        r = tls_connect("--cafile", pki.path("ca.pem"), "--proxy", proxy_url(kind, proxy),
                        BACKEND, str(target.port), input=b"")
    target.join()
    err = one_error_line(r, 4)
    assert f"{BACKEND}:{target.port} through the proxy" in err, err
    # A close with our ClientHello unread reaches us as a reset (the kernel's choice).
    assert re.search(r"(closed|reset) the connection during the TLS handshake", err), err


def test_a_target_speaking_garbage_through_the_proxy_exits_5(pki):
    def garbage(server, conn):
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" + bytes(range(256)) * 8)
        conn.recv(65536)
    target = Server(garbage)
    with HttpConnectProxy(names=NAMES) as proxy:
        r = tls_connect("--cafile", pki.path("ca.pem"), "--proxy", proxy_url("http", proxy),
                        BACKEND, str(target.port), input=b"")
    target.join()
    assert "does not speak TLS" in one_error_line(r, 5)


def test_a_target_resetting_mid_handshake_through_the_proxy_exits_4(pki):
    def reset_after_hello(server, conn):
        conn.recv(5)
        reset(conn)
    target = Server(reset_after_hello)
    with Socks5Proxy(names=NAMES) as proxy:
        r = tls_connect("--cafile", pki.path("ca.pem"), "--proxy", proxy_url("socks5", proxy),
                        BACKEND, str(target.port), input=b"")
    target.join()
    # The proxy passes the reset on as its own close (a relay sees only an end of data).
    err = one_error_line(r, 4)
    assert "during the TLS handshake" in err, err


def test_local_tls_files_exit_3_before_the_proxy_is_reached(pki, tmp_path):
    missing = str(tmp_path / "missing.pem")
    with Socks5Proxy(names=NAMES) as proxy:
        r = tls_connect("--cafile", missing, "--proxy", proxy_url("socks5", proxy), BACKEND,
                        "443")
        assert f"cannot read --cafile '{missing}'" in one_error_line(r, 3)
        assert proxy.log == [] and proxy._threads == []


def test_tls_with_a_proxy_keeps_the_other_refusals():
    r = run("connect", "--tls", "--source", "127.0.0.1", "--proxy", "socks5://127.0.0.1:1",
            BACKEND, "443", env=clean_env())
    assert "--source" in one_error_line(r, 2)
    r = run("connect", "--tls", "--proxy", "https://127.0.0.1:1", BACKEND, "443",
            env=clean_env())
    assert "socks5:// and http://" in one_error_line(r, 2)
