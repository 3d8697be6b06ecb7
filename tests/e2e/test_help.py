"""--help as a man's tool prints it: within 80 columns when standard output is not a terminal
and within the terminal's width when it is, the options in the sections of the subcommand's
man page, no CLI11 annotations, examples at the bottom, and `nettool help [SUBCOMMAND]`."""
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from conftest import DEADLINE, NETTOOL, SOURCE_DIR, run

ROOT = Path(SOURCE_DIR)
LONG_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SECTION_RE = re.compile(r"^([A-Z][A-Za-z ,]*):$")
ROW_RE = re.compile(r"^  (-\S.*?)(?:\s{2,}|$)")
# What CLI11 prints on its own and nettool's help must not.
NOISE = [re.compile(p) for p in (r"Excludes:", r"Needs:", r"REQUIRED", r"\bINT in \[",
                                 r":\{[^}]*\}", r"\{[^}]*\}\]", r"\x01", r"\bTEXT:",
                                 r"\[Option Group", r"Positionals:")]


def subcommands():
    names, inside = [], False
    for line in run("--help").stdout.decode().splitlines():
        if SECTION_RE.match(line):
            inside = line == "Subcommands:"
        elif inside and re.match(r"  [a-z]", line):
            names.append(line.split()[0])
    return names


SUBCOMMANDS = subcommands()
HELP_ARGS = [["--help"], ["--help-all"], ["help"]] + [[s, "--help"] for s in SUBCOMMANDS] + \
    [["help", s] for s in SUBCOMMANDS]


def help_of(*args):
    r = run(*args)
    assert r.returncode == 0, (args, r.stderr)
    assert r.stderr == b"", (args, r.stderr)
    return r.stdout.decode()


def sections(text):
    """{section title: [long options of its rows]} of one subcommand's help."""
    found, title = {}, None
    for line in text.splitlines():
        match = SECTION_RE.match(line)
        if match:
            title = match.group(1)
            found.setdefault(title, [])
            continue
        row = ROW_RE.match(line)
        if row and title:
            found[title] += LONG_RE.findall(row.group(1))
    return found


def roff_text(source):
    text = source.replace("\\-", "-").replace("\\(hy", "-")
    text = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", text)
    return re.sub(r"\\[&%:]", "", text)


def man_sections(sub):
    """{section title: [long options]} of the OPTIONS section of nettool-SUB(1): the options
    named on the line after each .TP, under the .SS heading above it."""
    text = roff_text((ROOT / "man" / f"nettool-{sub}.1").read_text())
    options = text[text.index(".SH OPTIONS"):]
    options = options[:options.index("\n.SH ", 1)]
    found, title, lines = {}, None, options.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".SS "):
            title = line[4:].strip().strip('"')
            found.setdefault(title, [])
        elif line.startswith(".TP") and i + 1 < len(lines):
            found.setdefault(title, [])
            found[title] += LONG_RE.findall(lines[i + 1])
    return found


def help_on_a_terminal(args, columns):
    """Runs nettool with standard output on a pseudo-terminal `columns` wide; its output."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # no CR added before each LF
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen([NETTOOL, *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    end = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=DEADLINE) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        os.close(master)
    return out.decode()


def widest(text):
    return max(len(line) for line in text.splitlines())


def test_subcommands_are_listed():
    assert set(SUBCOMMANDS) >= {"serve", "connect", "get", "retrieve", "clean"}


@pytest.mark.parametrize("args", HELP_ARGS, ids=" ".join)
def test_no_line_wider_than_80_columns_when_not_a_terminal(args):
    text = help_of(*args)
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide, f"nettool {' '.join(args)}: {len(too_wide)} lines over 80:\n" + \
        "\n".join(too_wide)


@pytest.mark.parametrize("args", HELP_ARGS, ids=" ".join)
def test_no_cli11_annotations(args):
    text = help_of(*args)
    for pattern in NOISE:
        assert not pattern.search(text), f"nettool {' '.join(args)}: {pattern.pattern!r} in\n{text}"


def test_the_annotations_checked_for_are_what_cli11_prints():
    # Lines of the help nettool printed before it had its own formatter.
    old = ["  --backlog N:INT in [1 - 65535]", "  -q,--quiet Excludes: --verbose",
           "  --auth SCHEME:{basic,digest,any} Excludes: --bearer",
           "  URL TEXT REQUIRED           The URL", "  --output-dir DIR Needs: --remote-name",
           "[Option Group: Modes]"]
    for line in old:
        assert any(p.search(line) for p in NOISE), line


def test_wrapped_to_the_terminal_width():
    narrow = help_on_a_terminal(["get", "--help"], 64)
    assert widest(narrow) <= 64, narrow
    wide = help_on_a_terminal(["get", "--help"], 132)
    assert 80 < widest(wide) <= 132, wide
    assert len(wide.splitlines()) < len(narrow.splitlines())
    # The same text, only wrapped differently.
    assert wide.split() == narrow.split()


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_options_in_the_sections_of_the_man_page(sub):
    in_help = sections(help_of(sub, "--help"))
    in_man = man_sections(sub)
    section_of = {option: title for title, options in in_man.items() for option in options}
    checked = 0
    for title, options in in_help.items():
        for option in options:
            if option in ("--help", "--help-all"):
                continue
            assert option in section_of, f"{option} of {sub} is not in nettool-{sub}(1)'s OPTIONS"
            if len(in_man) > 1:
                assert section_of[option] == title, \
                    f"{option}: section {title!r} in --help, {section_of[option]!r} in the man page"
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_examples_at_the_bottom(sub):
    text = help_of(sub, "--help")
    assert "\nExamples:\n" in text
    examples = text[text.index("\nExamples:\n"):]
    commands = [line.strip() for line in examples.splitlines() if line.startswith("      ")]
    assert 2 <= len(commands) <= 3, commands
    own_options = {o for options in sections(text).values() for o in options}
    for command in commands:
        assert f"nettool {sub}" in command, command
        for option in LONG_RE.findall(command):
            assert option in own_options, f"example {command!r} uses {option}, not an option of {sub}"


def test_help_subcommand_prints_the_same_help():
    assert help_of("help") == help_of("--help") == help_of("help", "--help")
    for sub in SUBCOMMANDS:
        assert help_of("help", sub) == help_of(sub, "--help")


def test_help_lists_itself_and_the_options_of_the_top_level():
    text = help_of("--help")
    assert re.search(r"^\s+nettool help \[SUBCOMMAND\]$", text, re.M)
    assert set(LONG_RE.findall(text)) >= {"--help", "--help-all", "--version", "--list-options"}


@pytest.mark.parametrize("args,words", [
    (["help", "nosuch"], ["'nosuch' is not a subcommand", "serve"]),
    (["help", "retreive"], ["did you mean retrieve?"]),
    (["help", "get", "extra"], ["one subcommand at most"]),
])
def test_help_of_something_else_is_a_usage_error(args, words):
    r = run(*args)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.startswith("nettool: error: ") and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    assert r.stdout == b""


def test_help_all_holds_every_subcommand():
    text = help_of("--help-all")
    for sub in SUBCOMMANDS:
        assert f"Usage: nettool {sub} [OPTIONS]" in text


def test_help_wins_over_an_unknown_option():
    # `nettool get --bogus --help`: what was asked for is the help.
    assert help_of("get", "--bogus", "--help") == help_of("get", "--help")
    assert help_of("get", "-h", "-L") == help_of("get", "--help")
