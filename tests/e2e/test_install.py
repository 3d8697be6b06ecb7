"""`cmake --install` of the build tree the tests run from: exactly the binary and its HTTP module
(stripped, their symbols in the separate `debug` component), a man page per subcommand plus
nettool(1), and the
bash, zsh and fish completions, in GNUInstallDirs places; the staged binary runs every
subcommand's --help, and the staged man pages render."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DEADLINE, NETTOOL
from test_docs import DocsCheck, ROOT

BUILD_DIR = Path(NETTOOL).resolve().parent
COMPLETIONS = {
    "share/bash-completion/completions/nettool",
    "share/zsh/vendor-completions/_nettool",
    "share/fish/vendor_completions.d/nettool.fish",
}

pytestmark = pytest.mark.skipif(not (BUILD_DIR / "CMakeCache.txt").is_file(),
                                reason=f"{BUILD_DIR} is not a CMake build tree")


def subcommands():
    return DocsCheck([NETTOOL], ROOT).subcommands()


def installed_files(prefix):
    return {str(p.relative_to(prefix)) for p in Path(prefix).rglob("*") if not p.is_dir()}


def install(prefix, *extra):
    r = subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", str(prefix), *extra],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return installed_files(prefix)


def sections(binary):
    r = subprocess.run(["readelf", "-S", "-W", str(binary)], capture_output=True, text=True,
                       timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("stage")
    return prefix, install(prefix)


def test_installs_exactly_the_binary_the_man_pages_and_three_completions(stage):
    prefix, files = stage
    subs = subcommands()
    assert set(subs) == {"serve", "connect", "get", "retrieve", "clean", "ports"}
    # A page per subcommand, nettool(1), and nettool-help(1) for `nettool help`.
    pages = ({"share/man/man1/nettool.1", "share/man/man1/nettool-help.1"} |
             {f"share/man/man1/nettool-{s}.1" for s in subs})
    modules = {f for f in files if f.endswith("/nettool/nettool-http.so")}
    assert len(modules) == 1 and next(iter(modules)).startswith("lib"), files
    assert files == {"bin/nettool"} | modules | pages | COMPLETIONS
    assert len(pages) == 8 and len(files) == 13
    assert os.access(prefix / "bin/nettool", os.X_OK)
    # The completion files are the repository's, under the names each shell looks for.
    for installed, source in zip(sorted(COMPLETIONS), ["completions/nettool.bash",
                                                       "completions/nettool.fish",
                                                       "completions/_nettool"]):
        assert (prefix / installed).read_bytes() == (ROOT / source).read_bytes()


def test_installed_binary_is_stripped_and_its_symbols_are_a_separate_component(stage, tmp_path):
    prefix, files = stage
    (module,) = [f for f in files if f.endswith("/nettool-http.so")]
    for installed, built in (("bin/nettool", NETTOOL),
                             (module, BUILD_DIR / "nettool-http.so")):
        text = sections(prefix / installed)
        assert ".symtab" not in text and ".debug_info" not in text
        assert ".gnu_debuglink" in text
        assert os.path.getsize(prefix / installed) < os.path.getsize(built)
    debug = install(tmp_path / "debug", "--component", "debug")
    assert len(debug) == 2, debug
    for name in debug:
        assert name.startswith("lib/debug/"), name
        assert ".symtab" in sections(tmp_path / "debug" / name)
    assert {Path(name).name for name in debug} == {"nettool.debug", "nettool-http.so.debug"}
    assert [name for name in debug if name.endswith("/bin/nettool.debug")], debug


def test_staged_binary_runs_every_subcommands_help(stage):
    prefix, _ = stage
    binary = str(prefix / "bin/nettool")
    r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 0 and "nettool" in r.stdout
    for sub in subcommands():
        r = subprocess.run([binary, sub, "--help"], capture_output=True, text=True,
                           timeout=DEADLINE)
        assert r.returncode == 0, (sub, r.stderr)
        assert f"nettool {sub}" in r.stdout, (sub, r.stdout)


@pytest.mark.skipif(shutil.which("man") is None, reason="man (man-db) is not installed")
def test_staged_man_pages_render(stage):
    prefix, _ = stage
    for sub in subcommands():
        page = prefix / f"share/man/man1/nettool-{sub}.1"
        r = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                           timeout=DEADLINE, env=dict(os.environ, MANWIDTH="80", MANPAGER="cat"))
        assert r.returncode == 0, (sub, r.stderr)
        assert "NAME" in r.stdout and f"nettool-{sub}" in r.stdout, r.stdout[:300]
