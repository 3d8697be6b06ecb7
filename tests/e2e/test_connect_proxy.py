"""connect --proxy: through a SOCKS5 proxy (with and without username/password) and an HTTP
CONNECT proxy (with basic auth), both small Python proxies in this process (proxy_helpers.py).
The proxy resolves the name, data flows both ways with half-close, refusals exit 4 and bad
credentials 6 with sentences naming the proxy, lying proxies end cleanly, NO_PROXY and
--noproxy go direct, and the password shows nowhere."""
import hashlib
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import DEADLINE, NETTOOL, run
from connect_helpers import Server, closed_port_socket, read_all_then_answer, recv_to_eof, reply_payload
from proxy_helpers import HttpConnectProxy, Socks5Proxy
from test_startup import assert_only_small_libraries, mapped_libraries

SECRET = "s3cret-Pa55"
MIB = 1 << 20


def one_error_line(r, code):
    assert r.returncode == code, (r.returncode, r.stderr)
    err = r.stderr.decode()
    assert err.startswith("nettool: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    assert SECRET not in err
    return err


def proxy_url(kind, proxy, user=None, password=None):
    scheme = "socks5" if kind == "socks5" else "http"
    creds = f"{user}:{password}@" if user is not None else ""
    return f"{scheme}://{creds}127.0.0.1:{proxy.port}"


def make_proxy(kind, **kwargs):
    return Socks5Proxy(**kwargs) if kind == "socks5" else HttpConnectProxy(**kwargs)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("all_proxy", "no_proxy", "http_proxy", "https_proxy")}
    env.update(extra)
    return env


def connect(*args, input=b"", env=None, timeout=DEADLINE):
    return run("connect", *args, input=input, env=env or clean_env(), timeout=timeout)


# --- data through the tunnel -------------------------------------------------------------

@pytest.mark.parametrize("kind,auth", [("socks5", False), ("socks5", True), ("http", False),
                                       ("http", True)])
def test_upload_then_answer_through_the_proxy_which_resolves_the_name(tmp_path, kind, auth):
    payload = os.urandom(4 * MIB)
    src = tmp_path / "in.bin"
    src.write_bytes(payload)
    reply_size = 3 * MIB
    user, password = ("alice", SECRET) if auth else (None, None)
    server = Server(read_all_then_answer(reply_size))
    with make_proxy(kind, user=user, password=password) as proxy:
        with open(src, "rb") as stdin:
            r = subprocess.run([NETTOOL, "connect", "-v", "--proxy",
                                proxy_url(kind, proxy, user, password), "localhost",
                                str(server.port)],
                               stdin=stdin, capture_output=True, timeout=DEADLINE, env=clean_env())
        server.join()
        log = list(proxy.log)
    assert r.returncode == 0, r.stderr
    assert server.received == [payload]
    expected = b"%d %s\n" % (len(payload), hashlib.sha256(payload).hexdigest().encode())
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(
        expected + reply_payload(reply_size)).hexdigest()
    # The proxy was given the name, not an address: it did the resolution.
    assert len(log) == 1, log
    assert log[0]["host"] == "localhost" and log[0]["port"] == server.port
    if kind == "socks5":
        assert log[0]["address_type"] == "domain"
        assert log[0]["user"] == user
    else:
        assert log[0]["method"] == "CONNECT"
        assert (log[0]["authorization"] is not None) == auth
    err = r.stderr.decode()
    assert f"connected to localhost:{server.port} through the proxy" in err, err
    assert f"127.0.0.1:{proxy.port}" in err
    assert SECRET not in err
    if auth:
        assert "alice@" in err


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_target_half_closes_first_and_stdin_keeps_flowing(tmp_path, kind):
    down = os.urandom(3 * MIB)
    up = os.urandom(4 * MIB)
    src = tmp_path / "up.bin"
    src.write_bytes(up)

    def handler(server, conn):
        conn.sendall(down)
        conn.shutdown(socket.SHUT_WR)  # the target is done first; the client still sends
        server.received.append(recv_to_eof(conn))

    server = Server(handler)
    with make_proxy(kind) as proxy:
        with open(src, "rb") as stdin:
            r = subprocess.run([NETTOOL, "connect", "--proxy", proxy_url(kind, proxy),
                                f"localhost:{server.port}"],
                               stdin=stdin, capture_output=True, timeout=DEADLINE, env=clean_env())
        server.join()
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(down).hexdigest()
    assert hashlib.sha256(server.received[0]).hexdigest() == hashlib.sha256(up).hexdigest()


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_bytes_the_target_sends_with_the_proxys_reply_are_not_lost(kind):
    def handler(server, conn):
        conn.sendall(b"greeting from the target\n")
        server.received.append(recv_to_eof(conn))

    server = Server(handler)
    with make_proxy(kind, mode="coalesce") as proxy:
        r = connect("--proxy", proxy_url(kind, proxy), "--send", "bye", "localhost",
                    str(server.port))
        server.join()
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"greeting from the target\n"
    assert server.received == [b"bye"]


# --- refusals, credentials ---------------------------------------------------------------

def test_socks_refusal_exits_4_with_the_proxys_reason():
    with Socks5Proxy(mode=("refuse", 2)) as proxy:
        r = connect("--proxy", proxy_url("socks5", proxy), "localhost", "80")
    err = one_error_line(r, 4)
    assert f"the proxy socks5h://127.0.0.1:{proxy.port} refused to connect to localhost:80" in err
    assert "not allowed" in err


def test_socks_proxy_reports_the_target_refusing():
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    with Socks5Proxy() as proxy:
        r = connect("--proxy", proxy_url("socks5", proxy), "localhost", str(port))
    closed.close()
    err = one_error_line(r, 4)
    assert "connection refused (reply 5)" in err


def test_http_refusal_exits_4_with_the_status_line():
    with HttpConnectProxy(mode=("refuse", "403 Forbidden by policy")) as proxy:
        r = connect("--proxy", proxy_url("http", proxy), "localhost", "80")
    err = one_error_line(r, 4)
    assert f"the proxy http://127.0.0.1:{proxy.port} refused to connect to localhost:80" in err
    assert "HTTP 403 Forbidden by policy" in err


def test_http_proxy_reports_the_target_refusing_as_502():
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    with HttpConnectProxy() as proxy:
        r = connect("--proxy", proxy_url("http", proxy), "localhost", str(port))
    closed.close()
    assert "HTTP 502 Bad Gateway" in one_error_line(r, 4)


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_bad_and_missing_credentials_exit_6_with_distinct_sentences(kind):
    with make_proxy(kind, user="alice", password="right") as proxy:
        wrong = connect("--proxy", proxy_url(kind, proxy, "alice", SECRET), "localhost", "80")
        missing = connect("--proxy", proxy_url(kind, proxy), "localhost", "80")
    wrong_err = one_error_line(wrong, 6)
    missing_err = one_error_line(missing, 6)
    assert "rejected the user name and password" in wrong_err
    assert "alice@127.0.0.1" in wrong_err
    assert "requires authentication" in missing_err
    assert wrong_err != missing_err


def test_unreachable_proxy_exits_4():
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    r = connect("--proxy", f"socks5://127.0.0.1:{port}", "localhost", "80")
    closed.close()
    err = one_error_line(r, 4)
    assert f"cannot reach the proxy socks5h://127.0.0.1:{port}" in err


# --- proxies that lie --------------------------------------------------------------------

@pytest.mark.parametrize("kind,mode,code,words", [
    ("socks5", "bad_version", 7, "malformed SOCKS5 reply"),
    ("socks5", "bad_address_type", 7, "malformed SOCKS5 reply"),
    ("socks5", "unassigned", 7, "malformed SOCKS5 reply"),
    ("socks5", "close_after_greeting", 4, "closed the connection"),
    ("socks5", "close_after_request", 4, "closed the connection"),
    ("socks5", "short_reply", 4, "closed the connection"),
    ("http", "garbage", 7, "not HTTP"),
    ("http", "close_after_request", 4, "closed or reset the connection"),
    ("http", "oversized", 7, "malformed reply"),
])
def test_a_lying_proxy_is_a_clean_error(kind, mode, code, words):
    with make_proxy(kind, mode=mode) as proxy:
        started = time.monotonic()
        r = connect("--proxy", proxy_url(kind, proxy, "bob", SECRET), "localhost", "80")
        elapsed = time.monotonic() - started
    err = one_error_line(r, code)
    assert words in err, err
    assert f"127.0.0.1:{proxy.port}" in err
    assert elapsed < DEADLINE / 2


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_timeout_covers_the_whole_tunnel_setup(kind):
    with make_proxy(kind, mode="silent") as proxy:
        started = time.monotonic()
        r = connect("-w", "1s", "--proxy", proxy_url(kind, proxy), "localhost", "80")
        elapsed = time.monotonic() - started
    err = one_error_line(r, 4)
    assert "timed out after 1s" in err, err
    assert 0.9 < elapsed < DEADLINE / 2


def test_wait_retries_a_target_the_proxy_cannot_reach_yet():
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    with Socks5Proxy() as proxy:
        # Long enough for a second attempt on a loaded machine (the first loads libcurl).
        r = connect("--wait", "3s", "--proxy", proxy_url("socks5", proxy), "localhost", str(port))
        attempts = len(proxy.log)
    closed.close()
    err = one_error_line(r, 4)
    assert "connection refused (reply 5)" in err and "kept trying for 3s" in err
    assert attempts >= 2


def test_sigint_during_the_handshake_exits_130():
    with Socks5Proxy(mode="silent") as proxy:
        p = subprocess.Popen([NETTOOL, "connect", "--proxy", proxy_url("socks5", proxy),
                              "localhost", "80"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
        try:
            end = time.monotonic() + DEADLINE
            while not proxy.log and not proxy._threads and time.monotonic() < end:
                time.sleep(0.01)
            assert proxy._threads, "the proxy saw no client"
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=DEADLINE)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert p.returncode == 130, err


# --- which proxy, if any -----------------------------------------------------------------

def echo_once():
    def handler(server, conn):
        server.received.append(recv_to_eof(conn))
        conn.sendall(b"direct or not\n")
    return Server(handler)


def test_all_proxy_is_used_and_no_proxy_goes_direct():
    with Socks5Proxy() as proxy:
        url = proxy_url("socks5", proxy)
        server = echo_once()
        r = connect("--send", "x", "localhost", str(server.port), env=clean_env(ALL_PROXY=url))
        server.join()
        assert r.returncode == 0, r.stderr
        assert [e["host"] for e in proxy.log] == ["localhost"]
        for env in (clean_env(ALL_PROXY=url, NO_PROXY="example.test,localhost"),
                    clean_env(all_proxy=url, no_proxy="*"),
                    clean_env(ALL_PROXY=url, NO_PROXY=".localhost.")):
            server = echo_once()
            r = connect("--send", "x", "localhost", str(server.port), env=env)
            server.join()
            assert r.returncode == 0, r.stderr
            assert r.stdout == b"direct or not\n"
        # NO_PROXY applies to --proxy too (as in curl); --noproxy replaces it.
        server = echo_once()
        r = connect("--proxy", url, "--send", "x", "localhost", str(server.port),
                    env=clean_env(NO_PROXY="localhost"))
        server.join()
        assert r.returncode == 0, r.stderr
        server = echo_once()
        r = connect("--noproxy", "", "--send", "x", "localhost", str(server.port),
                    env=clean_env(ALL_PROXY=url, NO_PROXY="localhost"))
        server.join()
        assert r.returncode == 0, r.stderr
        # --proxy '' means no proxy at all, ALL_PROXY included.
        server = echo_once()
        r = connect("--proxy", "", "--send", "x", "localhost", str(server.port),
                    env=clean_env(ALL_PROXY=url))
        server.join()
        assert r.returncode == 0, r.stderr
        log = [e["host"] for e in proxy.log]
    assert log == ["localhost", "localhost"], log  # the first, and --noproxy ''


def test_all_proxy_is_not_for_port_scans():
    closed = closed_port_socket()
    port = closed.getsockname()[1]
    with Socks5Proxy() as proxy:
        r = connect("-z", "127.0.0.1", str(port), env=clean_env(ALL_PROXY=proxy_url("socks5", proxy)))
        assert r.stdout.decode() == f"127.0.0.1 {port} closed\n"
        assert proxy.log == []
    closed.close()


# --- usage -------------------------------------------------------------------------------

@pytest.mark.parametrize("args,words", [
    (["--proxy", f"socks5://u:{SECRET}@127.0.0.1:99999"], "bad --proxy"),
    (["--proxy", "socks4://127.0.0.1:1080"], "socks5:// and http://"),
    (["--proxy", "https://127.0.0.1:1080"], "socks5:// and http://"),
    (["-z", "--proxy", "socks5://127.0.0.1:1080"], "-z"),
    (["-u", "--proxy", "socks5://127.0.0.1:1080"], "TCP connections only"),
    (["--source", "127.0.0.1", "--proxy", "socks5://127.0.0.1:1080"], "--source"),
])
def test_proxy_usage_errors_exit_2(args, words):
    r = connect(*args, "localhost", "80")
    err = one_error_line(r, 2)
    assert words in err, err


def test_a_malformed_all_proxy_is_a_usage_error_naming_it():
    r = connect("localhost", "80", env=clean_env(ALL_PROXY=f"ftp://u:{SECRET}@x:21"))
    err = one_error_line(r, 2)
    assert "ALL_PROXY" in err


# --- start-up: the HTTP module only for a proxied connection -----------------------------

def held_connection(procs, *args, env):
    """A connect that stays up (its stdin a pipe) until the test closes its stdin."""
    accepted = threading.Event()

    def hold(server, conn):
        accepted.set()
        recv_to_eof(conn)

    server = Server(hold)
    proc = procs([NETTOOL, "connect", "-q", *args, "localhost", str(server.port)],
                 stdin=subprocess.PIPE, env=env)
    assert accepted.wait(DEADLINE)
    return server, proc


def finish(server, proc):
    proc.p.stdin.close()
    assert proc.wait() == 0
    server.join()


def test_a_connection_no_proxy_exempts_never_loads_the_http_module(procs):
    with Socks5Proxy() as proxy:
        env = clean_env(ALL_PROXY=proxy_url("socks5", proxy), NO_PROXY="localhost")
        server, proc = held_connection(procs, env=env)
        assert_only_small_libraries(proc.pid)
        finish(server, proc)
        assert proxy.log == []


def test_a_proxied_connection_loads_it(procs):
    with Socks5Proxy() as proxy:
        server, proc = held_connection(procs, "--proxy", proxy_url("socks5", proxy),
                                       env=clean_env())
        names = mapped_libraries(proc.pid)
        assert "nettool-http.so" in names and any(n.startswith("libcurl") for n in names), names
        finish(server, proc)
        assert len(proxy.log) == 1


def test_an_unresolvable_proxy_exits_4():
    r = connect("--proxy", "socks5://proxy.invalid:1080", "localhost", "80")
    assert "cannot resolve the proxy socks5h://proxy.invalid:1080" in one_error_line(r, 4)


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_an_ipv6_target_and_percent_encoded_credentials(kind):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = Server(read_all_then_answer(10), family=socket.AF_INET6, address=("::1", 0))
    except OSError:
        pytest.skip("no ::1")
    with make_proxy(kind, user="a@b", password="p:w@" + SECRET) as proxy:
        url = proxy_url(kind, proxy, "a%40b", "p%3Aw%40" + SECRET)
        r = connect("-v", "--proxy", url, "--send", "hi", f"[::1]:{server.port}")
        server.join()
        log = list(proxy.log)
    assert r.returncode == 0, r.stderr
    assert server.received == [b"hi"]
    assert log[0]["host"] == "::1"
    assert SECRET not in r.stderr.decode()
