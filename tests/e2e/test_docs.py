"""The docs test: every subcommand that `nettool --help` lists, and every long option
that its `--help` prints, appears in its man page and in the bash, zsh and fish completions;
every man page renders with `groff -ww` without a warning; the completion files parse; nettool(1)
lists every subcommand; the README links every page.

The lists come from the binary at test time, so a subcommand or option added later is covered
without editing this file. The checks live in DocsCheck, which the self-tests at the end run
against a fake nettool and a scratch tree, so that each check is seen to fail when its piece
is missing even while the real binary has no subcommand yet."""
import functools
import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import NETTOOL

ROOT = Path(os.environ.get("NETTOOL_SOURCE_DIR") or Path(__file__).resolve().parents[2])
# Options every subcommand inherits from CLI11 and the top level; documented in nettool(1).
COMMON_OPTIONS = {"--help", "--help-all", "--version"}
# Only used to probe that the --help parser misses nothing: a name on this list that answers
# `nettool NAME --help` with its own usage must be among the parsed subcommands.
PROBE_NAMES = ("serve", "connect", "get", "retrieve", "clean", "ports")
COMPLETIONS = ("completions/nettool.bash", "completions/_nettool", "completions/nettool.fish")
OPTION_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
TIMEOUT = 30


def word_re(word):
    return re.compile(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])")


def roff_text(source):
    """Roff source with the escapes that can sit inside an option name removed: `\\-` and
    `\\(hy` become '-', font changes, `\\&`, `\\%` and `\\:` disappear."""
    text = source.replace("\\-", "-").replace("\\(hy", "-")
    text = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", text)
    return re.sub(r"\\[&%:]", "", text)


class DocsCheck:
    """Every check returns a list of problems (sentences); an empty list is a pass."""

    def __init__(self, nettool_argv, root):
        self.argv = list(nettool_argv)
        self.root = Path(root)

    @functools.lru_cache(maxsize=None)
    def help_text(self, *args):
        r = subprocess.run(self.argv + [*args, "--help"], capture_output=True, text=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0, f"nettool {' '.join(args)} --help exited {r.returncode}: {r.stderr}"
        return r.stdout

    @functools.lru_cache(maxsize=None)
    def subcommands(self):
        """The names under the `Subcommands:` heading of `nettool --help` (CLI11's layout:
        a heading line, then one line per subcommand indented by two spaces)."""
        names, inside = [], False
        for line in self.help_text().splitlines():
            if re.fullmatch(r"[A-Za-z][\w ]*:", line):
                inside = line.lower() == "subcommands:"
                continue
            match = re.match(r"  ([a-z][a-z0-9-]*)(\s|$)", line) if inside else None
            if match:
                names.append(match.group(1))
        return tuple(names)

    def has_own_help(self, name):
        return re.search(r"^Usage: \S*nettool " + re.escape(name) + r"\b",
                         self.help_text(name), re.M) is not None

    def long_options(self, sub=None):
        args = (sub,) if sub else ()
        found = set(OPTION_RE.findall(self.help_text(*args)))
        return sorted(found if sub is None else found - COMMON_OPTIONS)

    def read(self, relative):
        return (self.root / relative).read_text(encoding="utf-8", errors="replace")

    def missing_files(self, relatives):
        return [f"{r} is missing" for r in relatives if not (self.root / r).is_file()]

    # --- the checks -------------------------------------------------------------------------

    def help_problems(self):
        problems = []
        for name in PROBE_NAMES:
            if name not in self.subcommands() and self.has_own_help(name):
                problems.append(f"`nettool {name} --help` works but `nettool --help` does not list "
                                f"{name} under Subcommands: (the help parser or the help is wrong)")
        for name in self.subcommands():
            if not self.has_own_help(name):
                problems.append(f"`nettool {name} --help` does not print its own Usage line")
        return problems

    def man_option_problems(self):
        problems = []
        for sub in self.subcommands():
            page = f"man/nettool-{sub}.1"
            if not (self.root / page).is_file():
                problems.append(f"{page} is missing")
                continue
            source = self.read(page)
            text = roff_text(source)
            if not re.search(r"^\.TH\s+\"?nettool-" + re.escape(sub) + r"\"?\s", text, re.M | re.I):
                problems.append(f"{page} has no `.TH NETTOOL\\-{sub.upper()} 1` line")
            for option in self.long_options(sub):
                if not word_re(option).search(text):
                    problems.append(f"{page} does not document {option} "
                                    f"(printed by `nettool {sub} --help`)")
        return problems

    def completion_problems(self):
        problems = self.missing_files(COMPLETIONS)
        for relative in COMPLETIONS:
            if not (self.root / relative).is_file():
                continue
            text = self.read(relative)
            for sub in self.subcommands():
                if not word_re(sub).search(text):
                    problems.append(f"{relative} does not complete the subcommand {sub}")
                for option in self.long_options(sub):
                    name = option[2:]
                    fish_long = re.compile(r"(?:\s-l|--long(?:-option)?)[ =]['\"]?" + re.escape(name)
                                           + r"(?![\w-])")
                    if word_re(option).search(text):
                        continue
                    if relative.endswith(".fish") and fish_long.search(text):
                        continue
                    problems.append(f"{relative} does not complete {option} of {sub}")
        return problems

    def syntax_problems(self):
        bash, zsh, fish = (self.root / r for r in COMPLETIONS)
        problems = self.missing_files(COMPLETIONS)
        checks = [
            (bash, ["bash", "-n", str(bash)]),
            # Sourcing it must register a completion for the command, not only parse.
            (bash, ["bash", "-c", 'source "$1" && complete -p nettool', "bash", str(bash)]),
            (zsh, ["zsh", "-n", str(zsh)]),
            (fish, ["fish", "--no-execute", str(fish)]),
        ]
        for path, argv in checks:
            if not path.is_file():
                continue
            if shutil.which(argv[0]) is None:
                problems.append(f"{argv[0]} is not installed, so {path.name} cannot be checked "
                                f"(scripts/install-deps.sh installs it)")
                continue
            r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0 or r.stderr.strip():
                problems.append(f"`{' '.join(argv[:-1])} {path.name}` failed "
                                f"(exit {r.returncode}): {r.stderr.strip()}")
        if zsh.is_file():
            first = self.read(COMPLETIONS[1]).splitlines()[:1]
            if not first or not first[0].startswith("#compdef nettool"):
                problems.append(f"{COMPLETIONS[1]} does not start with `#compdef nettool`")
        return problems

    def render_problems(self):
        pages = sorted((self.root / "man").glob("*.1"))
        if not pages:
            return ["man/ has no pages"]
        problems = []
        for page in pages:
            for extra in ([], ["-z"]):
                argv = ["groff", "-ww", *extra, "-man", "-Tutf8", str(page)]
                r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
                if r.returncode != 0 or r.stderr:
                    shown = " ".join(argv[:-1] + [f"man/{page.name}"])
                    problems.append(f"`{shown}` warned (exit {r.returncode}): {r.stderr.strip()}")
        return problems

    def overview_problems(self):
        page = "man/nettool.1"
        if not (self.root / page).is_file():
            return [f"{page} is missing"]
        text = roff_text(self.read(page))
        problems = []
        if not re.search(r"^\.TH\s+\"?nettool\"?\s+1\b", text, re.M | re.I):
            problems.append(f"{page} has no `.TH NETTOOL 1` line")
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "ENVIRONMENT",
                        "SEE ALSO"):
            if not re.search(r"^\.SH\s+\"?" + section + r"\"?\s*$", text, re.M):
                problems.append(f"{page} has no {section} section")
        for sub in self.subcommands():
            if not re.search(r"(?<![\w-])nettool-" + re.escape(sub) + r"\s*\(1\)", text):
                problems.append(f"{page} does not list {sub} with a reference to nettool-{sub}(1)")
        for option in self.long_options():
            if not word_re(option).search(text):
                problems.append(f"{page} does not document {option} (printed by `nettool --help`)")
        return problems

    def readme_problems(self):
        if not self.subcommands():
            return []
        if not (self.root / "README.md").is_file():
            return ["README.md is missing"]
        text = self.read("README.md")
        return [f"README.md does not link man/nettool-{sub}.1"
                for sub in self.subcommands()
                if not re.search(r"\]\((\./)?man/nettool-" + re.escape(sub) + r"\.1\)", text)]

    def all_problems(self):
        return (self.help_problems() + self.man_option_problems() + self.completion_problems()
                + self.syntax_problems() + self.render_problems() + self.overview_problems()
                + self.readme_problems())


def assert_none(problems):
    assert problems == [], "\n".join(problems)


@pytest.fixture(scope="module")
def docs():
    return DocsCheck([NETTOOL], ROOT)


# --- the real tree and the real binary ----------------------------------------------------

def test_help_lists_every_subcommand_it_has(docs):
    assert_none(docs.help_problems())


def test_subcommand_man_pages_document_every_long_option(docs):
    assert_none(docs.man_option_problems())


def test_completions_cover_every_subcommand_and_long_option(docs):
    assert_none(docs.completion_problems())


def test_completion_files_parse(docs):
    assert_none(docs.syntax_problems())


def test_man_pages_render_without_warnings(docs):
    assert_none(docs.render_problems())


def test_overview_page_lists_every_subcommand(docs):
    assert_none(docs.overview_problems())


def test_readme_links_every_man_page(docs):
    assert_none(docs.readme_problems())


# --- self-tests: the checks against a fake nettool and a scratch tree -----------------------

def fake_help(spec):
    """`nettool --help` and `nettool SUB --help` laid out as CLI11 prints them."""
    common = ("Options:\n"
              "  -h,--help                   Print this help message and exit\n"
              "  --help-all                  Show the help of every subcommand\n")
    texts = {"top": ("nettool: a network multi-tool\nUsage: nettool [OPTIONS] SUBCOMMAND\n\n" + common
                     + "  --version                   Print nettool's version\n\nSubcommands:\n"
                     + "".join(f"  {name:<28}{spec['subs'][name]['about']}\n" for name in spec["listed"])
                     + "\nExit status: 0 success. See nettool(1).\n")}
    for name, sub in spec["subs"].items():
        texts[name] = (f"{sub['about']}\nUsage: nettool {name} [OPTIONS]\n\n" + common
                       + "".join(f"  {o:<28}An option (see also --help)\n" for o in sub["options"]))
    return texts


# A shell script, not Python: it runs a dozen times per self-test and must start fast.
FAKE_NETTOOL = """#!/bin/sh
d=$(dirname "$0")/help
if [ "$1" != --help ] && [ -f "$d/$1.txt" ]; then cat "$d/$1.txt"; else cat "$d/top.txt"; fi
"""

FAKE_SPEC = {"listed": ["serve"],
             "subs": {"serve": {"about": "Listen for connections",
                                "options": ["--greet TEXT", "--backlog INT", "-k,--keep-open"]}}}

FAKE_TREE = {
    "man/nettool.1": r"""
        .TH NETTOOL 1
        .SH NAME
        nettool \- test
        .SH SYNOPSIS
        .B nettool
        .SH DESCRIPTION
        .TP
        .B serve
        See
        .BR \%nettool\-serve (1).
        .SH OPTIONS
        .B \-\-help ", " \-\-help\-all ", " \-\-version
        .SH EXIT STATUS
        0
        .SH ENVIRONMENT
        none
        .SH SEE ALSO
        .BR nettool\-serve (1)
        """,
    "man/nettool-serve.1": r"""
        .TH NETTOOL\-SERVE 1
        .SH NAME
        nettool\-serve \- test
        .SH OPTIONS
        .TP
        .BI \-\-greet= TEXT
        greet
        .TP
        --backlog
        backlog
        .TP
        .BR \-k ", " \fB\-\-keep\-open\fR
        keep
        """,
    "completions/nettool.bash": r"""
        _nettool() {
            local cur=${COMP_WORDS[COMP_CWORD]}
            case ${COMP_WORDS[1]} in
            serve) COMPREPLY=($(compgen -W "--greet --backlog --keep-open" -- "$cur")) ;;
            *) COMPREPLY=($(compgen -W "serve" -- "$cur")) ;;
            esac
        }
        complete -F _nettool nettool
        """,
    "completions/_nettool": r"""
        #compdef nettool
        _arguments '1:subcommand:(serve)' '*::arg:->args'
        case $words[1] in
        serve) _arguments '--greet=[greet]' '--backlog[backlog]:n' {-k,--keep-open}'[keep]' ;;
        esac
        """,
    "completions/nettool.fish": r"""
        complete -c nettool -f -n __fish_use_subcommand -a serve
        complete -c nettool -n '__fish_seen_subcommand_from serve' -l greet
        complete -c nettool -n '__fish_seen_subcommand_from serve' -l backlog
        complete -c nettool -n '__fish_seen_subcommand_from serve' -s k -l keep-open
        """,
    "README.md": "See [nettool-serve(1)](man/nettool-serve.1).\n",
}


def make_fake(tmp_path, spec=FAKE_SPEC, tree=FAKE_TREE):
    fake = tmp_path / "fake-nettool"
    fake.write_text(FAKE_NETTOOL)
    fake.chmod(0o755)
    (tmp_path / "help").mkdir()
    for name, text in fake_help(spec).items():
        (tmp_path / "help" / f"{name}.txt").write_text(text)
    root = tmp_path / "src"
    for relative, text in tree.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return DocsCheck([str(fake)], root)


def edit(check, relative, old, new):
    path = check.root / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new))


def test_self_complete_fake_tree_passes(tmp_path):
    check = make_fake(tmp_path)
    assert check.subcommands() == ("serve",)
    assert check.long_options("serve") == ["--backlog", "--greet", "--keep-open"]
    assert_none(check.all_problems())


def test_self_zero_subcommands_still_checks_overview_and_completions(tmp_path):
    spec = {"listed": [], "subs": {}}
    check = make_fake(tmp_path, spec=spec)
    assert check.subcommands() == ()
    assert_none(check.all_problems())
    edit(check, "completions/nettool.fish", "-l greet", "-l greet; end")
    (check.root / "man/nettool.1").unlink()
    problems = "\n".join(check.all_problems())
    assert "nettool.fish" in problems and "man/nettool.1 is missing" in problems


def sabotage_cases():
    """(what to break, the words the problem report must contain)."""
    return {
        "man page lacks an option": (
            lambda c: edit(c, "man/nettool-serve.1", "--backlog", "--back"),
            ["man/nettool-serve.1", "--backlog"]),
        "man page missing": (
            lambda c: (c.root / "man/nettool-serve.1").unlink(),
            ["man/nettool-serve.1 is missing"]),
        "man page has a wrong title": (
            lambda c: edit(c, "man/nettool-serve.1", r".TH NETTOOL\-SERVE", ".TH NETTOOL-GET"),
            ["man/nettool-serve.1", ".TH"]),
        "bash lacks an option": (
            lambda c: edit(c, "completions/nettool.bash", "--greet ", ""),
            ["completions/nettool.bash", "--greet"]),
        "zsh lacks the subcommand": (
            lambda c: c.root.joinpath("completions/_nettool").write_text(
                "#compdef nettool\n_arguments '--greet' '--backlog' '--keep-open'\n"),
            ["completions/_nettool", "subcommand serve"]),
        "fish lacks an option": (
            lambda c: edit(c, "completions/nettool.fish", "-s k -l keep-open", "-s k"),
            ["completions/nettool.fish", "--keep-open"]),
        "fish file missing": (
            lambda c: (c.root / "completions/nettool.fish").unlink(),
            ["completions/nettool.fish is missing"]),
        "bash syntax error": (
            lambda c: edit(c, "completions/nettool.bash", "esac", "esca"),
            ["bash -n", "nettool.bash"]),
        "bash registers nothing": (
            lambda c: edit(c, "completions/nettool.bash", "complete -F _nettool nettool", ":"),
            ["complete -p nettool"]),
        "zsh file is no completion function": (
            lambda c: edit(c, "completions/_nettool", "#compdef nettool", "# nettool"),
            ["#compdef nettool"]),
        "zsh syntax error": (
            lambda c: edit(c, "completions/_nettool", "esac", "if"),
            ["zsh -n", "_nettool"]),
        "fish syntax error": (
            lambda c: edit(c, "completions/nettool.fish", "-l greet", "-l greet; end"),
            ["fish --no-execute", "nettool.fish"]),
        "groff warning": (
            lambda c: edit(c, "man/nettool-serve.1", ".SH OPTIONS", ".SH OPTIONS\n.BOGUS"),
            ["groff -ww", "nettool-serve.1"]),
        "overview lacks a subcommand": (
            lambda c: edit(c, "man/nettool.1", r"nettool\-serve", "serve"),
            ["man/nettool.1", "serve"]),
        "overview lacks a global option": (
            lambda c: edit(c, "man/nettool.1", r"\-\-help\-all", "all"),
            ["man/nettool.1", "--help-all"]),
        "README lacks a link": (
            lambda c: edit(c, "README.md", "(man/nettool-serve.1)", "(serve)"),
            ["README.md", "man/nettool-serve.1"]),
    }


@pytest.mark.parametrize("case", sorted(sabotage_cases()))
def test_self_each_missing_piece_is_reported(tmp_path, case):
    sabotage, words = sabotage_cases()[case]
    check = make_fake(tmp_path)
    sabotage(check)
    problems = check.all_problems()
    assert problems, f"{case}: no problem reported"
    assert any(all(w in p for w in words) for p in problems), \
        f"{case}: no problem names {words}:\n" + "\n".join(problems)


def test_self_an_option_is_matched_whole_not_inside_a_longer_one(tmp_path):
    # `--keep` is printed by --help, but the page and completions name only `--keep-open`
    # (the way `--cookie-jar` must not stand in for a missing `--cookie`).
    spec = json.loads(json.dumps(FAKE_SPEC))
    spec["subs"]["serve"]["options"].append("--keep")
    check = make_fake(tmp_path, spec=spec)
    problems = "\n".join(check.all_problems())
    for where in ["man/nettool-serve.1", *COMPLETIONS]:
        assert re.search(re.escape(where) + r".*--keep\b(?!-)", problems), (where, problems)
    assert "--keep-open" not in problems


def test_self_new_option_and_unlisted_subcommand_are_reported(tmp_path):
    spec = json.loads(json.dumps(FAKE_SPEC))
    spec["subs"]["serve"]["options"].append("--frobnicate")
    spec["subs"]["get"] = {"about": "Fetch", "options": []}  # answers --help, not listed
    check = make_fake(tmp_path, spec=spec)
    problems = "\n".join(check.all_problems())
    for where in ["man/nettool-serve.1", *COMPLETIONS]:
        assert re.search(re.escape(where) + r".*--frobnicate", problems), problems
    assert "`nettool get --help` works but `nettool --help` does not list get" in problems
