"""connect --tls against nginx (the server most TLS clients meet), with the test CA: verified,
a client certificate presented to a server that asks for one, and the name check."""
import subprocess

import pytest

from conftest import DEADLINE, NETTOOL
from connect_helpers import free_port
from nginx_helpers import needs_nginx, running_nginx
from tls_helpers import Pki

pytestmark = needs_nginx

CONFIG = """
events {{ worker_connections 64; }}
http {{
    access_log off;
    {temp_paths}
    ssl_certificate {d}/server.pem;
    ssl_certificate_key {d}/server.key;
    server {{ listen 127.0.0.1:{plain_port} ssl; root {d}/www; }}
    server {{
        listen 127.0.0.1:{mutual_port} ssl; root {d}/www;
        ssl_client_certificate {d}/ca.pem;
        ssl_verify_client on;
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    """nginx with two TLS servers (plain, and one that requires a client certificate signed by
    the test CA); yields (pki, plain_port, mutual_port). Stopped by pid."""
    d = tmp_path_factory.mktemp("nginx")
    pki = Pki(d)
    (d / "www").mkdir()
    (d / "www" / "index.html").write_bytes(b"hello from nginx\n")
    ports = {"plain_port": free_port(), "mutual_port": free_port()}
    with running_nginx(d, CONFIG, ports):
        yield pki, ports["plain_port"], ports["mutual_port"]


def get(port, *args, host="localhost"):
    return subprocess.run([NETTOOL, "connect", "--tls", *args, host, str(port)],
                          input=b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n",
                          capture_output=True, timeout=DEADLINE)


def test_connect_tls_to_nginx_verified_with_the_test_ca(nginx):
    pki, port, _ = nginx
    r = get(port, "--cafile", pki.path("ca.pem"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert r.stdout.endswith(b"\r\n\r\nhello from nginx\n")


def test_connect_tls_to_nginx_without_the_ca_exits_5(nginx):
    _, port, _ = nginx
    r = get(port)
    assert r.returncode == 5
    assert b"localhost:%d" % port in r.stderr and b"--cafile" in r.stderr


def test_connect_tls_to_nginx_by_a_name_the_certificate_lacks_exits_5(nginx):
    pki, port, _ = nginx
    r = get(port, "--cafile", pki.path("ca.pem"), "--servername", "other.example")
    assert r.returncode == 5
    assert b"other.example" in r.stderr


def test_connect_tls_presents_a_client_certificate_to_nginx(nginx):
    pki, _, port = nginx
    r = get(port, "--cafile", pki.path("ca.pem"), "--cert", pki.path("client.pem"), "--key",
            pki.path("client.key"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    # Without one nginx completes the handshake and answers 400 itself.
    r = get(port, "--cafile", pki.path("ca.pem"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"HTTP/1.1 400 ")
    assert b"No required SSL certificate was sent" in r.stdout
