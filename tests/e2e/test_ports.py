"""nettool ports: who listens where. A Python process opens a TCP listener, a bound UDP socket
and a listening Unix socket; `ports` must list each with that process's pid and name, filter
them by port and endpoint, exit 1 when a filter matches nothing, and keep its table within 80
columns with foreign names escaped. Every --json line is checked against the schema (run())."""
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import DEADLINE, NETTOOL, json_lines, run
from test_quickstart import private_network_namespace

# The listener: sets its process name (comm) when asked, opens the sockets, prints the ports,
# then waits until the test closes its stdin. With "fork", a child shares the sockets.
LISTENER = r'''
import ctypes, os, socket, sys
name, unix_path, fork = sys.argv[1], sys.argv[2], sys.argv[3] == "fork"
if name:
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name.encode()), 0, 0, 0)  # PR_SET_NAME
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.bind(("127.0.0.1", 0))
tcp.listen()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
unx = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unx.bind(unix_path)
unx.listen()
child = os.fork() if fork else -1
if child == 0:
    sys.stdin.read()
    os._exit(0)
print(tcp.getsockname()[1], udp.getsockname()[1], child, flush=True)
sys.stdin.read()
if child > 0:
    os.waitpid(child, 0)
'''


class Listener:
    def __init__(self, procs, unix_path, name="", fork=False):
        self.proc = procs([sys.executable, "-c", LISTENER, name, str(unix_path),
                           "fork" if fork else "no"], stdin=subprocess.PIPE)
        line = self._read_line()
        tcp, udp, child = line.split()
        self.tcp, self.udp, self.child = int(tcp), int(udp), int(child)
        self.pid = self.proc.pid
        self.unix_path = str(unix_path)

    def _read_line(self):
        out, end = b"", time.monotonic() + DEADLINE
        while b"\n" not in out:
            left = end - time.monotonic()
            assert left > 0, f"the listener printed no ports: {out!r}"
            ready, _, _ = select.select([self.proc.p.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.p.stdout.fileno(), 4096)
                assert chunk, f"the listener exited: {self.proc.p.poll()}"
                out += chunk
        return out.decode()

    def close(self):
        self.proc.p.stdin.close()
        self.proc.wait()


def ports(*args, **kwargs):
    return run("ports", *args, **kwargs)


def listed(*args):
    """The `listening` objects of `nettool ports --json ARGS` (exit 0 expected)."""
    r = ports("--json", *args)
    assert r.returncode == 0, r.stderr
    return json_lines(r.stdout, only_json=True)


def find(objects, transport, port=None, path=None):
    return [o for o in objects if o["transport"] == transport
            and (port is None or o["local"].get("port") == port)
            and (path is None or o["local"].get("path") == path)]


def test_lists_a_python_listeners_tcp_udp_and_unix_sockets_with_its_pid(procs, tmp_path):
    listener = Listener(procs, tmp_path / "py.sock")
    objects = listed()
    for transport, port, path in (("tcp", listener.tcp, None), ("udp", listener.udp, None),
                                  ("unix", None, listener.unix_path)):
        found = find(objects, transport, port, path)
        assert len(found) == 1, (transport, found)
        assert found[0]["pid"] == listener.pid
        assert found[0]["program"] == "python3"
        assert "holders" not in found[0]
    assert find(objects, "tcp", listener.tcp)[0]["local"] == {"address": "127.0.0.1",
                                                              "port": listener.tcp}
    # The table says the same.
    r = ports()
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert text.splitlines()[0].split() == ["PROTO", "ADDRESS", "PORT", "PID", "PROGRAM"]
    for proto, port in (("tcp", listener.tcp), ("udp", listener.udp)):
        assert re.search(rf"^{proto}\s+127\.0\.0\.1\s+{port}\s+{listener.pid}\s+python3$", text,
                         re.M), text
    assert re.search(rf"^unix\s+{re.escape(listener.unix_path)}\s+-\s+{listener.pid}\s+python3$",
                     text, re.M), text
    # Gone when the process closes them.
    listener.close()
    objects = listed()
    assert not [o for o in objects if o.get("pid") == listener.pid]


def test_filters_by_port_and_endpoint(procs, tmp_path):
    listener = Listener(procs, tmp_path / "f.sock")
    mine = lambda objects: sorted((o["transport"], o["local"].get("port", o["local"].get("path")))
                                  for o in objects if o.get("pid") == listener.pid)
    assert mine(listed(str(listener.tcp))) == [("tcp", listener.tcp)]
    assert mine(listed(str(listener.tcp), str(listener.udp))) == [("tcp", listener.tcp),
                                                                  ("udp", listener.udp)]
    assert mine(listed(f"127.0.0.1:{listener.udp}")) == [("udp", listener.udp)]
    assert mine(listed(f"localhost:{listener.tcp}")) == [("tcp", listener.tcp)]
    assert mine(listed(f"tcp://*:{listener.tcp}")) == [("tcp", listener.tcp)]
    assert mine(listed(f"unix:{listener.unix_path}")) == [("unix", listener.unix_path)]
    # The same socket file under a relative name is found through its inode.
    r = run("ports", "--json", "unix:f.sock", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert mine(json_lines(r.stdout, only_json=True)) == [("unix", listener.unix_path)]
    # The kinds: --tcp, --udp, --unix.
    both = [str(listener.tcp), str(listener.udp), f"unix:{listener.unix_path}"]
    assert mine(listed("--udp", *both[1:2])) == [("udp", listener.udp)]
    assert mine(listed("-t", "-x", both[0], both[2])) == [("tcp", listener.tcp),
                                                          ("unix", listener.unix_path)]
    # A filter that matches nothing: exit 1, the others still listed.
    r = ports("--json", f"udp://127.0.0.1:{listener.tcp}", str(listener.udp))
    assert r.returncode == 1
    objects = json_lines(r.stdout, only_json=True)
    errors = [o for o in objects if o["event"] == "error"]
    assert len(errors) == 1 and errors[0]["exit"] == 1, objects
    assert f"udp://127.0.0.1:{listener.tcp}" in errors[0]["message"]
    assert ("udp", listener.udp) in mine(objects)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_with_nothing_there_exits_1():
    port = free_port()
    r = ports(str(port))
    assert r.returncode == 1
    assert r.stdout == b""
    assert r.stderr.decode().strip() == f"nettool: error: nothing listens on port {port}"
    r = ports("-q", str(port))
    assert (r.returncode, r.stdout, r.stderr) == (1, b"",
                                                  f"nettool: error: nothing listens on port {port}\n".encode())


def test_port_22_in_an_empty_network_namespace_exits_1():
    namespace = private_network_namespace()
    if namespace is None:
        pytest.skip("no private network namespace (needs unshare and ip, user namespaces or root)")
    r = subprocess.run([*namespace, NETTOOL, "ports", "22"], capture_output=True, timeout=DEADLINE)
    assert r.returncode == 1, r.stderr
    assert b"nothing listens on port 22" in r.stderr
    # And once something does listen there, it is found.
    script = ("import socket,subprocess,sys; s=socket.socket(); "
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',22)); "
              "s.listen(); sys.exit(subprocess.run(sys.argv[1:]).returncode)")
    r = subprocess.run([*namespace, "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                        sys.executable, "-c", script, NETTOOL, "ports", "--json", "22"],
                       capture_output=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    (obj,) = json_lines(r.stdout, only_json=True)
    assert obj["local"] == {"address": "127.0.0.1", "port": 22} and obj["program"] == "python3"


@pytest.fixture
def short_dir():
    """A directory with a short name (a Unix socket path has at most 107 bytes), removed after."""
    path = tempfile.mkdtemp(prefix="nt-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_table_fits_80_columns_and_escapes_foreign_names(procs, short_dir):
    # A long path (longer than the address column) with an escape sequence in it, and a process
    # named with one.
    directory = os.path.join(short_dir, "d" * 30)
    os.mkdir(directory)
    path = os.path.join(directory, "a\x1b[31mred.sock")
    listener = Listener(procs, path, name="ev\x1b[2Jil")
    r = ports(str(listener.tcp), f"unix:{path}")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert re.search(rf"^tcp\s+127\.0\.0\.1\s+{listener.tcp}\s+{listener.pid}\s+ev\\x1b\[2Jil$",
                     text, re.M), text
    # The path does not fit the address column: it gets its own line, the row continues below.
    escaped = path.replace("\x1b", "\\x1b")
    assert 40 < len(escaped) <= 73
    at = lines.index(f"unix   {escaped}")
    assert re.fullmatch(rf"\s+-\s+{listener.pid}\s+ev\\x1b\[2Jil", lines[at + 1]), lines
    # JSON keeps the name, escaped the JSON way (ASCII only).
    r = ports("--json", f"unix:{path}")
    assert b"\\u001b[31mred.sock" in r.stdout and b"ev\\u001b[2Jil" in r.stdout


def test_a_socket_shared_by_two_processes_names_both(procs, tmp_path):
    listener = Listener(procs, tmp_path / "s.sock", fork=True)
    (obj,) = [o for o in listed(str(listener.tcp))]
    pids = sorted([listener.pid, listener.child])
    assert obj["pid"] == pids[0]
    assert [h["pid"] for h in obj["holders"]] == pids
    r = ports(str(listener.tcp))
    assert re.search(rf"^tcp\s+127\.0\.0\.1\s+{listener.tcp}\s+{pids[0]}\s+python3 \+1$",
                     r.stdout.decode(), re.M), r.stdout
    r = ports("-v", str(listener.tcp))
    lines = r.stdout.decode().splitlines()
    assert re.fullmatch(rf"\s+{pids[1]}\s+python3", lines[2]), lines


@pytest.mark.parametrize("text", ["abc", "70000", "0", "", "ftp://host:21", "unix:"])
def test_bad_filters_are_usage_errors(text):
    r = ports(text)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(b"nettool: error: ") and len(r.stderr.splitlines()) == 1
    r = ports("--json", text)
    assert r.returncode == 2
    (obj,) = json_lines(r.stdout, only_json=True)
    assert obj["event"] == "error" and obj["exit"] == 2
