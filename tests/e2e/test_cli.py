"""The command-line contract everywhere: version, help, usage errors exit 2 with one line."""
import re

from conftest import run


def test_version_names_libcurl_and_tls():
    r = run("--version")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert re.match(r"nettool \d+\.\d+\.\d+", out)
    assert "libcurl" in out and "OpenSSL" in out


def test_help_lists_subcommands():
    r = run("--help")
    assert r.returncode == 0
    assert b"nettool" in r.stdout


def test_unknown_subcommand_is_usage_error_with_one_line():
    r = run("frobnicate")
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.startswith("nettool: error: ")
    assert len(err.strip().splitlines()) == 1


def test_no_subcommand_is_usage_error():
    r = run()
    assert r.returncode == 2
    assert r.stderr.decode().startswith("nettool: error: ")
