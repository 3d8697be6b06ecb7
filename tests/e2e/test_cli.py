"""The command-line contract everywhere: version, help, usage errors exit 2 with one line."""
import json
import os
import re

import pytest

from conftest import run
from http_helpers import HttpServer, respond


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


# --- unknown options: the word at fault first, then a hint or a close spelling -------------

def help_options(*args):
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*",
                          run(*args, "--help").stdout.decode()))


def every_long_option():
    options = help_options()
    for sub in SUBCOMMANDS:
        options |= help_options(sub)
    return options


# (arguments, what the message starts with, words the hint must hold)
UNKNOWN_OPTION_CASES = [
    # Reported in the issue: the unknown option, not the argument after it, is blamed.
    (["get", "-w", "%{http_code}", "http://localhost/"], "-w is not an option of 'nettool get'",
     ["--write-out"]),
    (["serve", "--ssl-cert", "a", "35000"],
     "--ssl-cert is not an option of 'nettool serve'", ["--tls --cert FILE"]),
    (["connect", "--ssl-trustfile", "ca.pem", "localhost", "443"],
     "--ssl-trustfile is not an option of 'nettool connect'", ["--tls --cafile FILE"]),
    # curl
    (["get", "-o", "out.html", "http://localhost/"], "-o is not an option of 'nettool get'",
     ["nettool retrieve URL FILE"]),
    (["retrieve", "-o", "out.html", "http://localhost/"],
     "-o is not an option of 'nettool retrieve'", ["nettool retrieve URL FILE"]),
    (["get", "-L", "http://localhost/"], "-L is not an option of 'nettool get'",
     ["followed by default"]),
    (["get", "-sSL", "http://localhost/"], "-s (in -sSL) is not an option of 'nettool get'",
     ["-q (--quiet)"]),
    (["retrieve", "-s", "http://localhost/"], "-s is not an option of 'nettool retrieve'",
     ["-q (--quiet)"]),
    # wget
    (["get", "-O", "out.html", "http://localhost/"], "-O is not an option of 'nettool get'",
     ["nettool retrieve URL FILE"]),
    (["retrieve", "-O", "out.html", "http://localhost/"], "-O takes no value in retrieve",
     ["--remote-name", "nettool retrieve URL FILE", "excludes"]),
    # nc and ncat
    (["connect", "-q", "1", "localhost", "80"], "-q is --quiet and takes no value",
     ["'1'", "end of stdin"]),
    (["serve", "-q", "1", "8080"], "-q is --quiet and takes no value", ["'1'"]),
    (["connect", "-l", "8080"], "-l is not an option of 'nettool connect'", ["nettool serve"]),
    (["serve", "-l", "8080"], "-l is not an option of 'nettool serve'", ["always listens"]),
    (["serve", "-p", "8080"], "-p is not an option of 'nettool serve'", ["nettool serve PORT"]),
    (["connect", "-p", "5000", "localhost", "80"], "-p is not an option of 'nettool connect'",
     ["--source :PORT"]),
    (["connect", "-x", "127.0.0.1:1080", "localhost", "80"],
     "-x is not an option of 'nettool connect'", ["--proxy socks5://HOST:PORT"]),
    (["connect", "-X", "5", "localhost", "80"], "-X is not an option of 'nettool connect'",
     ["--proxy URL's scheme"]),
    (["serve", "-e", "/bin/cat", "8080"], "-e is not an option of 'nettool serve'", ["--exec"]),
    (["serve", "--ssl", "8080"], "--ssl is not an option of 'nettool serve'", ["--tls"]),
    (["connect", "--ssl", "localhost", "443"], "--ssl is not an option of 'nettool connect'",
     ["--tls turns TLS on"]),
    # Close spellings.
    (["get", "--timout", "5", "http://localhost/"], "--timout is not an option of 'nettool get'",
     ["did you mean --timeout?"]),
    (["serve", "-keep-open", "8080"], "-keep-open is not an option of 'nettool serve'",
     ["did you mean --keep-open?"]),
    (["retrieve", "--remote_name", "http://localhost/"],
     "--remote_name is not an option of 'nettool retrieve'", ["did you mean --remote-name?"]),
    (["connect", "-c", "localhost", "25"], "-c is not an option of 'nettool connect'",
     ["did you mean -C (--crlf)?"]),
    (["retreive", "http://localhost/"], "'retreive' is not a subcommand", ["did you mean retrieve?"]),
    (["--verison"], "--verison is not an option of nettool", ["did you mean --version?"]),
    # Where an option goes.
    (["-q", "get", "http://localhost/"], "-q is an option of 'nettool get'",
     ["after the subcommand"]),
    (["get", "--version"], "--version is not an option of 'nettool get'", ["nettool --version"]),
    (["clean", "--frobnicate"], "--frobnicate is not an option of 'nettool clean'",
     ["nettool clean --help"]),
]


@pytest.mark.parametrize("args,start,words", UNKNOWN_OPTION_CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_unknown_option_is_named_first_with_its_hint(args, start, words):
    r = run(*args)
    assert r.returncode == 2, r.stderr
    err = r.stderr.decode()
    assert len(err.splitlines()) == 1 and err.endswith("\n"), err
    assert err.startswith("nettool: error: " + start), err
    for word in words:
        assert word in err, err
    assert r.stdout == b""


def test_hints_point_only_at_options_that_exist():
    existing = every_long_option()
    for args, _, _ in UNKNOWN_OPTION_CASES:
        message = run(*args).stderr.decode()
        hint = message.split(";", 1)[-1]
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", hint)) - {"--write-out"}
        assert named <= existing, (args, named - existing)
    if "--tls" not in help_options("serve"):
        assert "--tls" not in run("serve", "--ssl", "8080").stderr.decode()


def test_at_least_fifteen_cases_and_every_peer_habit():
    assert len(UNKNOWN_OPTION_CASES) >= 15
    habits = {tuple(args[:2]) for args, _, _ in UNKNOWN_OPTION_CASES}
    for habit in [("get", "-o"), ("get", "-L"), ("get", "-sSL"), ("get", "-O"),
                  ("retrieve", "-O"), ("connect", "-q"), ("connect", "-l"), ("serve", "-p"),
                  ("serve", "-e"), ("serve", "--ssl")]:
        assert habit in habits, habit


def test_the_argument_after_an_unknown_option_is_not_blamed():
    r = run("get", "-w", "%{http_code}", "http://localhost/")
    assert b"URL" not in r.stderr and b"%{http_code}" not in r.stderr


def test_unknown_option_under_json_is_an_error_object():
    r = run("clean", "--json", "--frobnicate")
    assert r.returncode == 2
    [obj] = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert obj["event"] == "error" and obj["exit"] == 2 and "--frobnicate" in obj["message"]


@pytest.mark.parametrize("args", [
    ["connect", "--send", "-w", "127.0.0.1", "1"],        # a value that looks like an option
    ["connect", "-w5", "--send", "x", "127.0.0.1", "1"],  # a short option's attached value
    ["connect", "-qw", "5", "127.0.0.1", "1"],            # a cluster ending in an option's name
    ["connect", "--send=-z", "127.0.0.1", "1"],           # a value attached with '='
    ["connect", "-q", "127.0.0.1", "1"],                  # -q before operands, as it should be
])
def test_option_like_values_are_not_unknown_options(args):
    r = run(*args)
    assert r.returncode == 4, r.stderr  # refused: parsed, and the connection was tried
    assert b"not an option" not in r.stderr


def test_a_repeatable_option_takes_one_value_per_use(tmp_path):
    """`retrieve -H 'X: 1' URL FILE`: -H takes its one value, not the URL as a second header
    (CLI11 lets a list option go on taking words while an operand is still optional)."""
    server = HttpServer()
    try:
        server.route("/h", lambda h, rec: respond(h, 200, (rec.headers.get("X-A") or "-").encode()))
        target = tmp_path / "saved"
        r = run("retrieve", "-H", "X-A: 1", "-H", "X-B: 2", server.url("/h"), str(target),
                env=dict(os.environ, NETTOOL_TMPDIR=str(tmp_path / "area")))
        assert r.returncode == 0, r.stderr
        assert target.read_bytes() == b"1"
        r = run("get", "-d", "a=1", "-d", "b=2", server.url("/h"))
        assert r.returncode == 0, r.stderr
        assert server.requests[-1].body == b"a=1&b=2"
    finally:
        server.close()
