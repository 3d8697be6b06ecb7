"""The command-line contract everywhere: version, help, usage errors exit 2 with one line."""
import re

from conftest import run


def test_version_names_libcurl_and_tls():
    r = run("--version")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert re.match(r"nettool \d+\.\d+\.\d+", out)
    assert "libcurl" in out and "OpenSSL" in out


SUBCOMMANDS = {"serve", "connect", "get", "retrieve", "clean", "ports"}


def listed_subcommands(help_text):
    """The names under `Subcommands:` in `nettool --help` (CLI11's layout: the heading, then
    one line per subcommand indented by two spaces, until a blank line)."""
    names, inside = set(), False
    for line in help_text.splitlines():
        if line.strip() == "Subcommands:":
            inside = True
        elif inside and not line.strip():
            break
        elif inside and re.match(r"  [a-z]", line):
            names.add(line.split()[0])
    return names


def test_help_lists_every_subcommand():
    r = run("--help")
    assert r.returncode == 0
    assert listed_subcommands(r.stdout.decode()) == SUBCOMMANDS


def test_self_subcommand_list_notices_a_missing_one():
    help_text = ("nettool: a tool\nUsage: nettool SUBCOMMAND\n\nSubcommands:\n"
                 "  serve                       Listen\n  connect                     Connect\n"
                 "\nExit status: see nettool(1). get retrieve clean\n")
    assert listed_subcommands(help_text) == {"serve", "connect"}  # not the words after the list
    assert listed_subcommands(help_text) != SUBCOMMANDS


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
