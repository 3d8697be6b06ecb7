"""scripts/package.sh: the Debian package of the build tree the tests run from. Its Depends
come from dpkg-shlibdeps (libcurl4, libssl3 among them), lintian finds no error, and unpacked
into a scratch root (dpkg -x) the binary, a man page and the completions work from there.
Bounded: packaging an up-to-date build takes seconds (the build step has nothing to do)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DEADLINE, NETTOOL, SANITIZED
from test_docs import ROOT

BUILD_DIR = Path(NETTOOL).resolve().parent
PACKAGE_TIMEOUT = 240

pytestmark = [
    pytest.mark.skipif(not (BUILD_DIR / "CMakeCache.txt").is_file(),
                       reason=f"{BUILD_DIR} is not a CMake build tree"),
    # A package of the ASan build would depend on libasan; the release package is what ships.
    pytest.mark.skipif(SANITIZED, reason="the package is made from a build without sanitizers"),
    pytest.mark.skipif(shutil.which("cpack") is None or shutil.which("dpkg-shlibdeps") is None,
                       reason="cpack and dpkg-shlibdeps (dpkg-dev) are needed"),
    pytest.mark.timeout(PACKAGE_TIMEOUT + 60),
]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    r = subprocess.run([str(ROOT / "scripts/package.sh"), str(BUILD_DIR), str(out)],
                       capture_output=True, text=True, timeout=PACKAGE_TIMEOUT)
    root = tmp_path_factory.mktemp("root")
    deb = Path(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else None
    if r.returncode == 0:
        x = subprocess.run(["dpkg", "-x", str(deb), str(root)], capture_output=True, text=True,
                           timeout=DEADLINE)
        assert x.returncode == 0, x.stderr
    return r, deb, root


def field(deb, name):
    r = subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                       timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_package_builds_with_shlibdeps_dependencies_and_no_lintian_error(package):
    r, deb, _ = package
    assert r.returncode == 0, r.stderr
    assert deb.name == f"nettool_{field(deb, 'Version')}_{field(deb, 'Architecture')}.deb"
    project_version = subprocess.run([NETTOOL, "--version"], capture_output=True, text=True,
                                     timeout=DEADLINE).stdout
    assert field(deb, "Version") in project_version
    depends = [d.split()[0] for d in field(deb, "Depends").split(", ")]
    for library in ("libcurl4", "libssl3", "libc6", "libmnl0"):
        assert library in depends, depends
    # lintian ran (scripts/install-deps.sh installs it) and reported no error.
    assert "lintian is not installed" not in r.stderr
    assert not [line for line in r.stderr.splitlines() if line.startswith("E: ")], r.stderr


def test_unpacked_binary_runs_from_the_scratch_root(package):
    _, _, root = package
    binary = root / "usr/bin/nettool"
    r = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                       timeout=DEADLINE)
    assert r.returncode == 0 and "libcurl" in r.stdout, r
    with open("/etc/hostname", "rb") as f:
        expected = f.read()
    r = subprocess.run([str(binary), "get", "file:///etc/hostname"], capture_output=True,
                       timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == expected


@pytest.mark.skipif(shutil.which("man") is None, reason="man (man-db) is not installed")
def test_unpacked_man_pages_are_compressed_and_render(package):
    _, _, root = package
    pages = sorted(p.name for p in (root / "usr/share/man/man1").iterdir())
    assert len(pages) == 8 and all(p.endswith(".1.gz") for p in pages), pages  # nettool-help.1 too
    r = subprocess.run(["man", "-l", str(root / "usr/share/man/man1/nettool-get.1.gz")],
                       capture_output=True, text=True, timeout=DEADLINE,
                       env=dict(os.environ, MANWIDTH="80", MANPAGER="cat"))
    assert r.returncode == 0 and "nettool-get" in r.stdout, r.stderr


def test_unpacked_completions_work_in_each_shell(package):
    _, _, root = package
    share = root / "usr/share"
    bash = share / "bash-completion/completions/nettool"
    # bash: the completion function itself, with COMP_WORDS as bash sets them.
    script = ('source "$1"; COMP_WORDS=(nettool po); COMP_CWORD=1; _nettool; '
              'printf "%s\\n" "${COMPREPLY[@]}"; '
              'COMP_WORDS=(nettool ports --u); COMP_CWORD=2; _nettool; printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "-c", script, "bash", str(bash)], capture_output=True, text=True,
                       timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ports", "--udp", "--unix"], r.stdout
    for shell, path, argv in (("zsh", share / "zsh/vendor-completions/_nettool", ["zsh", "-n"]),
                              ("fish", share / "fish/vendor_completions.d/nettool.fish",
                               ["fish", "--no-execute"])):
        if shutil.which(shell) is None:
            continue
        r = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0 and not r.stderr, (shell, r.stderr)
    if shutil.which("fish"):
        r = subprocess.run(["fish", "--no-config", "-c",
                            f"source {share / 'fish/vendor_completions.d/nettool.fish'}; "
                            "complete -C 'nettool ports --j'"],
                           capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0 and r.stdout.startswith("--json"), (r.stdout, r.stderr)


def test_package_carries_copyright_changelog_and_example_units(package):
    _, _, root = package
    doc = root / "usr/share/doc/nettool"
    assert "Copyright: 2026" in (doc / "copyright").read_text()
    assert (doc / "changelog.gz").is_file()
    units = sorted(p.name for p in (doc / "examples/systemd").iterdir())
    assert units == ["README.md", "nettool-echo.service", "nettool-greet.service",
                     "nettool-greet.socket"]
