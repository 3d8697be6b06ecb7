"""Helpers for test_tls.py: a test PKI made with the openssl command line in a temporary
directory (a CA, a second CA nobody trusts, server certificates good, expired, for another
name and self-signed, a client certificate), and `openssl s_server` started on port 0 with its
port read from its ACCEPT line under a deadline."""
import os
import re
import select
import shutil
import subprocess
import time

import pytest

from conftest import DEADLINE

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="needs the openssl command")


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=DEADLINE)
    assert r.returncode == 0, (args, r.stderr.decode(errors="replace"))
    return r.stdout


CA_CONFIG = """
[ca]
default_ca = test_ca
[test_ca]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
"""


class Pki:
    """Every file a test needs, by name: ca.pem, other_ca.pem, server.pem/.key (localhost,
    127.0.0.1, ::1), expired.pem, wrong_name.pem (other.example), self_signed.pem,
    client.pem/.key (CN=alice), each with its .key."""

    def __init__(self, directory):
        self.dir = str(directory)
        d = self.dir
        for ca in ("ca", "other_ca"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "30",
                    "-subj", f"/CN=nettool test {ca}", cwd=d)
        self.leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1")
        self.leaf("unknown_ca", "localhost", "DNS:localhost,IP:127.0.0.1", ca="other_ca")
        self.leaf("wrong_name", "other.example", "DNS:other.example")
        self.leaf("client", "alice", None, usage="clientAuth")
        self.leaf("stranger", "mallory", None, usage="clientAuth", ca="other_ca")
        # Expired: `openssl ca` takes any start and end date, no clock tricks needed.
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write(CA_CONFIG.format(dir=d))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        self.request("expired", "localhost", "DNS:localhost,IP:127.0.0.1")
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", "expired.csr", "-out", "expired.pem", "-startdate", "20200101000000Z",
                "-enddate", "20200201000000Z", "-notext", cwd=d)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "self_signed.key", "-out", "self_signed.pem", "-days", "30", "-subj",
                "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", cwd=d)

    def request(self, name, cn, san):
        args = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}"]
        if san:
            args += ["-addext", f"subjectAltName={san}"]
        openssl(*args, cwd=self.dir)

    def leaf(self, name, cn, san, ca="ca", usage="serverAuth"):
        self.request(name, cn, san)
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            if san:
                f.write(f"subjectAltName={san}\n")
            f.write(f"extendedKeyUsage={usage}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "30", "-extfile", ext,
                cwd=self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)


def read_stdout_line(proc, pattern, timeout=DEADLINE):
    """Reads proc's stdout lines until one matches `pattern`; returns the match."""
    end = time.monotonic() + timeout
    buffered = b""
    while True:
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            m = re.search(pattern, line.decode(errors="replace"))
            if m:
                return m
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no line matching {pattern!r} from {proc.argv}")
        ready, _, _ = select.select([proc.p.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.p.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError(f"{proc.argv} ended before {pattern!r}: exit {proc.p.poll()}, "
                               f"stderr {proc.p.stderr.read()!r}")
            buffered += chunk


def start_s_server(procs, pki, cert, *extra, stdin=subprocess.DEVNULL):
    """`openssl s_server EXTRA` on 127.0.0.1, port 0, with pki's `cert` (NAME.pem and
    NAME.key); returns (proc, port). With -rev it answers each line reversed."""
    proc = procs(["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", pki.path(cert + ".pem"),
                  "-key", pki.path(cert + ".key"), *extra], stdin=stdin)
    m = read_stdout_line(proc, r"^ACCEPT .*:(\d+)$")
    return proc, int(m.group(1))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A Pki for the whole test module (import it into a test file to use it)."""
    return Pki(tmp_path_factory.mktemp("pki"))
