"""Start-up: the binary maps neither libcurl nor OpenSSL; get and retrieve reach them through the
HTTP module (nettool-http.so), found only relative to the binary's own file; a missing, unsafe
or foreign module is one sentence and exit 1, and serve/connect do not need it
(ARCHITECTURE.md "Start-up", nettool(1) FILES)."""
import hashlib
import os
import re
import shutil
import socket
import stat
import subprocess
import threading

import pytest

from conftest import DEADLINE, NETTOOL, SANITIZED, json_lines, run
from connect_helpers import Server, recv_to_eof
from http_helpers import HttpServer, respond
from serve_helpers import port_of, start_serve

BUILD_DIR = os.path.dirname(os.path.realpath(NETTOOL))
MODULE = os.path.join(BUILD_DIR, "nettool-http.so")
FORBIDDEN = re.compile(r"lib(curl|ssl|crypto|nghttp2|gnutls|ssh2|ldap|gssapi|krb5)[.-]")
# What the binary may map: libc and libmnl (not even libm); a sanitizer build adds its runtimes
# and the dynamic libstdc++ it links (with libm), as does a build configured with
# -DNETTOOL_STATIC_LIBSTDCXX=OFF.
ALLOWED = ("ld-linux", "libc.so", "libmnl.so")
DYNAMIC_LIBSTDCXX = ("libstdc++.so", "libgcc_s.so", "libm.so")
ALLOWED_SANITIZED = ALLOWED + ("libasan.so", "libubsan.so") + DYNAMIC_LIBSTDCXX
BODY = b"through the module\n" * 1000


def mapped_libraries(pid):
    """The base names of the shared objects mapped into process pid."""
    names = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and ".so" in fields[5]:
                names.add(os.path.basename(fields[5].strip()))
    return names


def static_libstdcxx_off():
    """Whether the build tree was configured with -DNETTOOL_STATIC_LIBSTDCXX=OFF."""
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            return any(re.fullmatch(r"NETTOOL_STATIC_LIBSTDCXX:BOOL=(OFF|0|FALSE|NO)", line.strip())
                       for line in f)
    except OSError:
        return False


def allowed_libraries():
    if SANITIZED:
        return ALLOWED_SANITIZED
    return ALLOWED + DYNAMIC_LIBSTDCXX if static_libstdcxx_off() else ALLOWED


def assert_only_small_libraries(pid):
    names = mapped_libraries(pid)
    assert not [n for n in names if FORBIDDEN.search(n)], names
    allowed = allowed_libraries()
    assert all(n.startswith(allowed) for n in names), names
    assert "nettool-http.so" not in names


@pytest.fixture
def http_server():
    s = HttpServer()
    s.static("/body", BODY)
    yield s
    s.close()


def lone_binary(directory):
    """A copy of nettool in `directory`/bin with nothing beside it (no module anywhere)."""
    bindir = directory / "bin"
    bindir.mkdir()
    shutil.copy2(NETTOOL, bindir / "nettool")
    return str(bindir / "nettool")


def one_error_line(r):
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_the_binary_needs_neither_libcurl_nor_openssl():
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    dynamic = subprocess.run([readelf, "-d", NETTOOL], capture_output=True, text=True,
                             timeout=DEADLINE, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", dynamic)
    assert needed and not [n for n in needed if FORBIDDEN.search(n)], needed
    allowed = allowed_libraries()
    assert all(n.startswith(allowed) for n in needed), needed
    # The default links libstdc++ statically (one shared library less to load at every start).
    assert any(n.startswith(DYNAMIC_LIBSTDCXX) for n in needed) == (
        SANITIZED or static_libstdcxx_off()), needed


def test_serve_greet_maps_only_libc_and_libmnl(procs):
    proc, events = start_serve(procs, "--greet", "-k", "127.0.0.1:0")
    assert_only_small_libraries(proc.pid)
    # Still so after serving a client.
    with socket.create_connection(("127.0.0.1", port_of(events)), timeout=DEADLINE) as s:
        s.settimeout(DEADLINE)
        assert recv_to_eof(s)
    assert_only_small_libraries(proc.pid)


def test_connect_maps_only_libc_and_libmnl(procs):
    accepted = threading.Event()

    def hold(server, conn):
        accepted.set()
        recv_to_eof(conn)  # until nettool's stdin closes and it shuts down writing

    server = Server(hold)
    proc = procs([NETTOOL, "connect", "-q", "127.0.0.1", str(server.port)], stdin=subprocess.PIPE)
    assert accepted.wait(DEADLINE)
    assert_only_small_libraries(proc.pid)
    proc.p.stdin.close()
    assert proc.wait() == 0
    server.join()


def test_get_loads_libcurl_through_the_module(procs):
    release = threading.Event()
    requested = threading.Event()

    def slow(handler, record):
        requested.set()
        release.wait(DEADLINE)
        respond(handler, 200, BODY)

    server = HttpServer()
    try:
        server.route("/slow", slow)
        proc = procs([NETTOOL, "get", server.url("/slow")])
        assert requested.wait(DEADLINE)
        names = mapped_libraries(proc.pid)
        assert "nettool-http.so" in names and any(n.startswith("libcurl") for n in names), names
        release.set()
        assert proc.p.stdout.read() == BODY
        assert proc.wait() == 0
    finally:
        release.set()
        server.close()


def test_get_retrieve_and_checksum_work_through_the_module(http_server, tmp_path):
    url = http_server.url("/body")
    r = run("get", url)
    assert r.returncode == 0, r.stderr
    assert r.stdout == BODY
    digest = hashlib.sha256(BODY).hexdigest()
    target = tmp_path / "body.txt"
    env = dict(os.environ, NETTOOL_TMPDIR=str(tmp_path / "area"))
    r = run("retrieve", "--checksum", f"sha256:{digest}", url, str(target), env=env)
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == BODY
    r = run("retrieve", "--checksum", f"sha512:{'0' * 128}", url, str(tmp_path / "bad"), env=env)
    assert r.returncode == 9, r.stderr
    assert not (tmp_path / "bad").exists()
    r = run("retrieve", "--json", url, str(tmp_path / "json.txt"), env=env)
    assert r.returncode == 0, r.stderr
    assert [o["sha256"] for o in json_lines(r.stdout) if "sha256" in o] == [digest]


def test_version_names_the_build_and_loads_nothing(procs):
    r = run("--version")
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert re.fullmatch(r"nettool \d+\.\d+\.\d+", lines[0]), lines
    assert re.fullmatch(r"built with libcurl \d+\.\d+\.\d+ and OpenSSL \d+\.\d+\.\d+\S*", lines[1])
    assert len(lines) == 2, lines


def test_version_verbose_loads_the_module_and_names_it():
    for args in (("--version", "-v"), ("-v", "--version"), ("--version", "--verbose")):
        r = run(*args)
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        assert f"\nHTTP module {MODULE}\n" in out, out
        assert re.search(r"^libcurl \d+\.\d+\.\d+$", out, re.M), out
        assert re.search(r"^TLS OpenSSL/\d", out, re.M), out
        assert re.search(r"^protocols: .*\bhttps\b", out, re.M), out


def test_a_missing_module_is_one_sentence_and_exit_1(tmp_path, http_server):
    nettool = lone_binary(tmp_path)
    bindir = os.path.dirname(nettool)
    for args in (["get", http_server.url("/body")], ["retrieve", http_server.url("/body")],
                 ["get", "--proxy", "http://127.0.0.1:1", http_server.url("/body")],
                 ["--version", "-v"]):
        r = subprocess.run([nettool, *args], capture_output=True, timeout=DEADLINE,
                           env=dict(os.environ, NETTOOL_TMPDIR=str(tmp_path / "area")))
        assert r.returncode == 1, (args, r.stderr)
        line = one_error_line(r)
        assert re.fullmatch(re.escape(f"nettool: error: nettool's HTTP module is missing: "
                                      f"neither {bindir}/nettool-http.so nor {tmp_path}/")
                            + r"(\S+/)?lib\S*/nettool/nettool-http\.so exists; reinstall nettool",
                            line), line
        assert r.stdout == b""
    assert not http_server.requests  # nothing was contacted

    r = subprocess.run([nettool, "retrieve", "--json", http_server.url("/body")],
                       capture_output=True, timeout=DEADLINE,
                       env=dict(os.environ, NETTOOL_TMPDIR=str(tmp_path / "area")))
    assert r.returncode == 1
    [error] = json_lines(r.stdout)
    assert error["event"] == "error" and error["exit"] == 1
    assert "HTTP module is missing" in error["message"]


def test_serve_connect_and_version_work_without_the_module(tmp_path, procs):
    nettool = lone_binary(tmp_path)
    r = subprocess.run([nettool, "--version"], capture_output=True, timeout=DEADLINE)
    assert r.returncode == 0 and r.stdout.startswith(b"nettool ")
    server = procs([nettool, "serve", "--greet", "--json", "127.0.0.1:0"])
    port = server.wait_event("listening")["local"]["port"]
    r = subprocess.run([nettool, "connect", "127.0.0.1", str(port)], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout  # the greeting
    assert server.wait() == 0  # one client without -k


def test_a_damaged_module_is_refused_with_the_loaders_reason(tmp_path):
    nettool = lone_binary(tmp_path)
    module = tmp_path / "bin" / "nettool-http.so"
    module.write_bytes(b"not a shared object\n")
    r = subprocess.run([nettool, "get", "http://127.0.0.1:1/"], capture_output=True,
                       timeout=DEADLINE)
    assert r.returncode == 1
    line = one_error_line(r)
    assert line.startswith(f"nettool: error: cannot load nettool's HTTP module {module}: "), line
    assert line.endswith("; reinstall nettool"), line


def test_a_module_others_may_write_is_refused(tmp_path, http_server):
    nettool = lone_binary(tmp_path)
    module = tmp_path / "bin" / "nettool-http.so"
    shutil.copy2(MODULE, module)
    os.chmod(nettool, 0o755)
    os.chmod(module, 0o757)
    r = subprocess.run([nettool, "get", http_server.url("/body")], capture_output=True,
                       timeout=DEADLINE)
    assert r.returncode == 1
    assert one_error_line(r) == (f"nettool: error: refusing to load nettool's HTTP module "
                                 f"{module}: anyone may write to it; reinstall nettool")
    os.chmod(module, 0o755)
    r = subprocess.run([nettool, "get", http_server.url("/body")], capture_output=True,
                       timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == BODY


def test_a_symlink_to_the_binary_finds_the_module_beside_its_target(tmp_path, http_server):
    link = tmp_path / "nettool"
    link.symlink_to(NETTOOL)
    r = subprocess.run([str(link), "--version", "-v"], capture_output=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert f"\nHTTP module {MODULE}\n".encode() in r.stdout


def test_the_installed_layout_finds_the_module(tmp_path, http_server):
    cmake = shutil.which("cmake")
    if cmake is None or not os.path.exists(os.path.join(BUILD_DIR, "CMakeCache.txt")):
        pytest.skip("needs cmake and nettool's build directory")
    stage = tmp_path / "stage"
    subprocess.run([cmake, "--install", BUILD_DIR, "--prefix", str(stage), "--component",
                    "nettool"], check=True, capture_output=True, timeout=120)
    modules = list(stage.rglob("nettool-http.so"))
    assert len(modules) == 1, modules
    assert modules[0].parent.name == "nettool" and stat.S_ISREG(modules[0].lstat().st_mode)
    installed = stage / "bin" / "nettool"
    r = subprocess.run([str(installed), "--version", "-v"], capture_output=True,
                       timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert f"\nHTTP module {modules[0]}\n".encode() in r.stdout
    r = subprocess.run([str(installed), "get", http_server.url("/body")], capture_output=True,
                       timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == BODY
