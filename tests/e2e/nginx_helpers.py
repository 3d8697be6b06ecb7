"""A private nginx for a test module: its own prefix, config, logs and pid file under a pytest
temp directory, listening on loopback ports the caller chose; stopped by its pid."""

import contextlib
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import DEADLINE

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="needs nginx (Debian package nginx)")

# The lines every config needs: the master in the foreground, its pid, logs and temp paths in
# the test's directory. As root nginx's workers would switch to nobody, who cannot enter
# pytest's private directories: they stay root (there is nothing to switch from otherwise).
PREAMBLE = """
{user}
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
"""
TEMP_PATHS = ("client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; "
              "fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;")


def accepting(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def running_nginx(d, config, ports):
    """Runs nginx with `config` (PREAMBLE is prepended; {d}, {user}, {temp_paths} and the
    names in `ports` are filled in) until every port accepts; stops it on the way out."""
    user = "user root;" if os.geteuid() == 0 else ""
    text = (PREAMBLE + config).format(d=d, user=user,
                                      temp_paths=TEMP_PATHS.format(d=d), **ports)
    (d / "nginx.conf").write_text(text)
    proc = subprocess.Popen([NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e",
                             str(d / "error.log")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + DEADLINE
        while not all(accepting(p) for p in ports.values()):
            if proc.poll() is not None or time.monotonic() > end:
                log = d / "error.log"
                pytest.fail(f"nginx did not start: {proc.stderr.read()!r} "
                            f"{log.read_text() if log.exists() else ''!r}")
            time.sleep(0.05)
        yield
    finally:
        # SIGTERM: the master stops its workers and then exits (SIGKILL would orphan them).
        proc.terminate()
        try:
            proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=DEADLINE)
