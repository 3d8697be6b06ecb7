"""Validation before side effects (nettool(1), EMPTY VALUES and DURATIONS): every empty or
missing value is a usage error (exit 2) at parse time, before anything is contacted; the few
empty values that mean something do exactly that; `0` turns every duration option off; a bad
--proxy is a usage error; retrieve checks where it will save before the first request; stdin
reaches a client only in relay mode.

"Contacted nothing" is seen by a listener that never accepts: the kernel completes a
connection into its backlog anyway, so a non-blocking accept() afterwards tells whether
anything connected."""
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import DEADLINE, NETTOOL, connect_tcp, recv_all, run
from http_helpers import HttpServer, respond
from serve_helpers import exchange, port_of, read_json_line, start_serve

SECRET = b"SECRET-from-stdin\n"


class Silent:
    """A TCP listener on 127.0.0.1 that never accepts; connections() counts who got in."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/file.txt"

    def connections(self):
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1

    def close(self):
        self.sock.close()


@pytest.fixture
def silent():
    s = Silent()
    yield s
    s.close()


@pytest.fixture
def web():
    server = HttpServer()
    server.static("/file.txt", b"the content\n")
    yield server
    server.close()


def usage_error(r, needle=""):
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, (r.returncode, err)
    assert err.startswith("nettool: error: ") and len(err.strip().splitlines()) == 1, err
    assert needle in err, err
    return err


# --- empty values ---------------------------------------------------------------------------

# (arguments, words the one-line error must contain). {url} and {port} are the silent
# listener's, so that a command that wrongly went ahead would be seen connecting.
EMPTY = [
    # serve: an empty mode value once fell back to relaying stdin to the client
    (["serve", "--send-file", "", "127.0.0.1:0"], "--send-file"),
    (["serve", "--exec", "", "127.0.0.1:0"], "--exec"),
    (["serve", "--exec", "  ", "127.0.0.1:0"], "--exec"),
    (["serve", "--sh-exec", "", "127.0.0.1:0"], "--sh-exec"),
    (["serve", "--sh-exec", " \t", "127.0.0.1:0"], "--sh-exec"),
    (["serve", "--sh-exec=", "127.0.0.1:0"], "--sh-exec="),  # once swallowed the endpoint
    (["serve", "--greet=", "127.0.0.1:0"], "--greet="),
    (["serve", "--allow", "", "127.0.0.1:0"], "--allow"),
    (["serve", "--deny", "", "127.0.0.1:0"], "--deny"),
    (["serve", "--idle-timeout", "", "127.0.0.1:0"], "--idle-timeout"),
    (["serve", "--grace", "", "127.0.0.1:0"], "--grace"),
    (["serve", "--max-conns", "", "127.0.0.1:0"], "--max-conns"),
    (["serve", "--backlog", "", "127.0.0.1:0"], "--backlog"),
    (["serve", ""], "endpoint"),
    # connect
    (["connect", "--source", "", "127.0.0.1", "{port}"], "--source"),
    (["connect", "--hexdump", "", "127.0.0.1", "{port}"], "--hexdump"),
    (["connect", "-w", "", "127.0.0.1", "{port}"], "--timeout"),
    (["connect", "--idle-timeout", "", "127.0.0.1", "{port}"], "--idle-timeout"),
    (["connect", "--wait", "", "127.0.0.1", "{port}"], "--wait"),
    (["connect", "--max-bytes", "", "127.0.0.1", "{port}"], "--max-bytes"),
    (["connect", "", "{port}"], "host"),
    (["connect", "127.0.0.1", ""], "port"),
    (["connect", ""], "endpoint"),
    (["connect", "--source=", "127.0.0.1", "{port}"], "--source="),
    # get
    (["get", ""], "URL"),
    (["get", "-H", "", "{url}"], "--header"),
    (["get", "--header=", "{url}"], "--header="),
    (["get", "-A", "", "{url}"], "User-Agent:"),
    (["get", "-u", "", "{url}"], "--user"),
    (["get", "--auth", "", "{url}"], "--auth"),
    (["get", "--bearer", "", "{url}"], "--bearer"),
    (["get", "--netrc-file", "", "{url}"], "--netrc-file"),
    (["get", "-b", "", "{url}"], "--cookie"),
    (["get", "-c", "", "{url}"], "--cookie-jar"),
    (["get", "-D", "", "{url}"], "--dump-header"),
    (["get", "-X", "", "{url}"], "--request"),
    (["get", "--cacert", "", "{url}"], "--cacert"),
    (["get", "--timeout", "", "{url}"], "--timeout"),
    (["get", "--connect-timeout", "", "{url}"], "--connect-timeout"),
    (["get", "--max-redirs", "", "{url}"], "--max-redirs"),
    (["get", "--retry", "", "{url}"], "--retry"),
    # retrieve: nothing is contacted before the local side is known to be usable
    (["retrieve", "{url}", ""], "FILE"),
    (["retrieve", ""], "URL"),
    (["retrieve", "-O", "--output-dir", "", "{url}"], "--output-dir"),
    (["retrieve", "-O", "--output-dir=", "{url}"], "--output-dir="),
    (["retrieve", "--checksum", "", "{url}", "f"], "--checksum"),
    (["retrieve", "--limit-rate", "", "{url}", "f"], "--limit-rate"),
    (["retrieve", "--progress", "", "{url}", "f"], "--progress"),
    (["retrieve", "--cookie-jar", "", "{url}", "f"], "--cookie-jar"),
    (["retrieve", "-H", "", "{url}", "f"], "--header"),
    (["retrieve", "--proxy=", "{url}", "f"], "--proxy="),
    # clean
    (["clean", "--older-than", ""], "--older-than"),
    (["clean", "--older-than="], "--older-than="),
]


@pytest.mark.parametrize("args, needle", EMPTY, ids=[" ".join(a) or "''" for a, _ in EMPTY])
def test_an_empty_value_is_a_usage_error_and_contacts_nothing(silent, tmp_path, args, needle):
    argv = [a.format(url=silent.url, port=silent.port) for a in args]
    r = run(*argv, input=SECRET, cwd=tmp_path,
            env=dict(os.environ, NETTOOL_TMPDIR=str(tmp_path / "area")))
    usage_error(r, needle)
    assert silent.connections() == 0
    assert os.listdir(tmp_path) == []  # no file, no temp area, no .part
    assert SECRET not in r.stdout + r.stderr


def test_self_silent_listener_sees_a_command_that_connects(silent):
    r = run("connect", "--send", "x", "--idle-timeout", "300ms", "127.0.0.1", str(silent.port))
    assert r.returncode == 4  # nobody answers: the idle timeout ends it
    assert silent.connections() == 1


def test_empty_send_sends_nothing_and_reads_the_reply(procs):
    _, events = start_serve(procs, "--sh-exec", "wc -c", "127.0.0.1:0")
    r = run("connect", "--send", "", "127.0.0.1", str(port_of(events)), input=SECRET)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"0"  # the server saw EOF at once: no byte, and not stdin's


def test_empty_data_posts_an_empty_body(web):
    seen = []

    def record(handler, recorded):
        seen.append(recorded)
        respond(handler, 200, b"ok")

    web.route("/post", record)
    r = run("get", "-d", "", web.url("/post"))
    assert r.returncode == 0, r.stderr
    assert seen[0].method == "POST" and seen[0].body == b""


def test_empty_proxy_means_no_proxy_even_from_the_environment(web, silent):
    env = dict(os.environ, http_proxy=f"http://127.0.0.1:{silent.port}",
               HTTPS_PROXY="", ALL_PROXY="", all_proxy="", no_proxy="", NO_PROXY="")
    r = run("get", "--proxy", "", web.url("/file.txt"), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"the content\n" and silent.connections() == 0
    # The control: without --proxy '' the variable applies and the silent proxy is contacted.
    r = run("get", "--timeout", "500ms", web.url("/file.txt"), env=env)
    assert r.returncode == 4 and silent.connections() == 1


@pytest.mark.parametrize("proxy", ["bogus://127.0.0.1:1", "http://[127.0.0.1", "http://h:99999",
                                   "ftp://127.0.0.1:21"])
@pytest.mark.parametrize("sub", ["get", "retrieve"])
def test_a_bad_proxy_is_a_usage_error_at_parse_time(silent, sub, proxy):
    usage_error(run(sub, "--proxy", proxy, silent.url), "--proxy")
    assert silent.connections() == 0


def test_good_proxy_forms_are_accepted(silent):
    for proxy in ("127.0.0.1:1", "http://u:p@127.0.0.1:1", "socks5h://127.0.0.1:1",
                  "HTTPS://127.0.0.1:1"):
        r = run("get", "--retry", "0", "--proxy", proxy, "http://127.0.0.1:1/")
        assert r.returncode not in (0, 2), (proxy, r.stderr)  # parsed, then the proxy refuses


# --- retrieve: the local side before the first request -----------------------------------

@pytest.mark.parametrize("case", ["missing output dir", "output dir is a file", "missing FILE dir",
                                  "FILE is a directory", "FILE dir is a file"])
def test_retrieve_checks_where_it_saves_before_contacting(silent, tmp_path, case):
    regular = tmp_path / "regular"
    regular.write_bytes(b"")
    args, needle = {
        "missing output dir": (["-O", "--output-dir", str(tmp_path / "missing"), silent.url],
                               str(tmp_path / "missing")),
        "output dir is a file": (["-O", "--output-dir", str(regular), silent.url], "not a directory"),
        "missing FILE dir": ([silent.url, str(tmp_path / "missing" / "f")],
                             str(tmp_path / "missing")),
        "FILE is a directory": ([silent.url, str(tmp_path)], "is a directory"),
        "FILE dir is a file": ([silent.url, str(regular / "f")], "not a directory"),
    }[case]
    r = run("retrieve", *args)
    err = r.stderr.decode()
    assert r.returncode == 3, err
    assert err.startswith("nettool: error: ") and len(err.strip().splitlines()) == 1, err
    assert needle in err
    assert silent.connections() == 0
    assert sorted(os.listdir(tmp_path)) == ["regular"]


def test_retrieve_into_a_device_needs_no_writable_directory(web):
    r = run("retrieve", web.url("/file.txt"), "/dev/null")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"/dev/null\n"


# --- durations: 0 is off everywhere --------------------------------------------------------

def test_serve_idle_timeout_0_keeps_a_silent_client(procs):
    _, events = start_serve(procs, "--echo", "-k", "--idle-timeout", "0", "127.0.0.1:0")
    with connect_tcp("127.0.0.1", port_of(events)) as s:
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):  # still open after half a second of silence
            s.recv(1)
        s.settimeout(DEADLINE)
        s.sendall(b"still here")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"still here"


def test_serve_grace_0_ends_open_connections_at_once(procs):
    proc, events = start_serve(procs, "--echo", "-k", "--grace", "0", "127.0.0.1:0")
    with connect_tcp("127.0.0.1", port_of(events)) as s:
        proc.wait_event("connection")
        start = time.monotonic()
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
        assert time.monotonic() - start < 2.5  # not the 5 s default grace
        try:
            assert recv_all(s) == b""
        except ConnectionResetError:
            pass


def test_connect_timeout_0_is_no_limit_of_its_own(procs):
    _, events = start_serve(procs, "--greet", "127.0.0.1:0")
    r = run("connect", "-w", "0", "127.0.0.1", str(port_of(events)))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Thank you for connecting!\n"


def test_connect_wait_0_tries_once(silent):
    port = silent.port
    silent.close()  # now refused
    start = time.monotonic()
    r = run("connect", "--wait", "0", "127.0.0.1", str(port), input=b"")
    assert r.returncode == 4 and b"refused" in r.stderr
    assert time.monotonic() - start < 2


def test_get_timeouts_0_are_off(web):
    r = run("get", "--timeout", "0", "--connect-timeout", "0ms", web.url("/file.txt"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"the content\n"


# --- stdin reaches a client only in relay mode -----------------------------------------------

@pytest.mark.parametrize("mode", [["--greet"], ["--greet=hi"], ["--echo"], ["--send-file", "{file}"],
                                  ["--exec", "echo child"], ["--sh-exec", "cat; echo child"]])
def test_stdin_never_reaches_a_client_outside_relay_mode(procs, tmp_path, mode):
    sent = tmp_path / "sent.txt"
    sent.write_bytes(b"the file\n")
    args = [a.format(file=sent) for a in mode]
    _, events = start_serve(procs, *args, "127.0.0.1:0", stdin=subprocess.PIPE)
    got = exchange("127.0.0.1", port_of(events), b"ping\n")
    assert SECRET not in got and got != b""


def test_relay_is_where_stdin_goes(tmp_path):
    # The control for the test above: in relay mode stdin is what the client receives.
    with open(tmp_path / "in", "wb") as f:
        f.write(SECRET)
    with open(tmp_path / "in", "rb") as stdin:
        p = subprocess.Popen([NETTOOL, "serve", "--json", "127.0.0.1:0"], stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            port = read_json_line(p.stderr)["local"]["port"]
            assert exchange("127.0.0.1", port, b"ping\n") == SECRET
            assert p.wait(timeout=DEADLINE) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()


def test_connect_send_text_is_all_the_server_gets(procs):
    _, events = start_serve(procs, "--sh-exec", "cat", "127.0.0.1:0")
    r = run("connect", "--send", "only this", "127.0.0.1", str(port_of(events)), input=SECRET)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"only this"
