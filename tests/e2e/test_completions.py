"""The shell completions, run in the real shells: bash through its completion function with
COMP_WORDS and COMP_CWORD, zsh through an interactive shell on a pseudo-terminal (zpty) with
compinit, fish through `complete -C`. Each must offer every subcommand, every long option of
every subcommand, the values of every option with a fixed set of values, and files where a
file goes (the FILE after `retrieve URL`, the value of a FILE option).

What to expect comes from `nettool SUB --help`, as a user reads it, not from the listing the
completions are generated from, so an option the generator drops is caught. The files tested
are completions/ (or $NETTOOL_COMPLETIONS_DIR, to try other ones)."""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NETTOOL, SOURCE_DIR, run

ROOT = Path(SOURCE_DIR)
COMPLETIONS = Path(os.environ.get("NETTOOL_COMPLETIONS_DIR") or ROOT / "completions")
HERE = Path(__file__).resolve().parent
SHELLS = ("bash", "zsh", "fish")
TIMEOUT = 30
LONG_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# The left column of an option row in --help: two spaces, then the names and the value.
ROW_RE = re.compile(r"^  (-\S.*?)(?:\s{2,}|$)")
CHOICES_RE = re.compile(r"^[a-z0-9-]+(?:\|[a-z0-9-]+)+$")


def help_text(*args):
    r = run(*args, "--help")
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def subcommands():
    names, inside = [], False
    for line in help_text().splitlines():
        if re.fullmatch(r"[A-Za-z][\w ,]*:", line):
            inside = line == "Subcommands:"
        elif inside and re.match(r"  [a-z]", line):
            names.append(line.split()[0])
    return names


def option_rows(sub):
    """[(long names, value)] of the option rows of `nettool SUB --help`."""
    rows = []
    for line in help_text(sub).splitlines():
        match = ROW_RE.match(line)
        if not match:
            continue
        label = match.group(1)
        names = LONG_RE.findall(label)
        value = re.sub(r"^(?:-{1,2}[\w-]+(?:, )?)+(?:\[=|\s)?", "", label).strip()
        rows.append((names, value))
    return rows


def long_options(sub):
    return sorted({n for names, _ in option_rows(sub) for n in names})


def choice_options(sub):
    """{long option: [values]} for the options whose value is a fixed set (a|b|c in --help)."""
    return {names[0]: value.split("|") for names, value in option_rows(sub)
            if names and CHOICES_RE.match(value)}


# --- the three shells ---------------------------------------------------------------------

def run_shell(argv, cwd, env=None):
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{argv[0]} did not finish completing within {TIMEOUT}s: "
                             f"{e.stdout!r} {e.stderr!r}") from None
    return p


def bash_complete(words, cwd):
    """COMPREPLY of _nettool for COMP_WORDS = words (the last one is completed)."""
    script = ('source "$1" || exit 3; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
              'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _nettool nettool; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    p = run_shell(["bash", "--norc", "--noprofile", "-c", script, "bash",
                   str(COMPLETIONS / "nettool.bash"), *words], cwd)
    assert p.returncode == 0, p.stderr
    errors = [l for l in p.stderr.decode().splitlines() if "compopt" not in l]
    assert not errors, errors
    return [l for l in p.stdout.decode().splitlines() if l]


def zsh_complete(line, cwd):
    p = run_shell(["zsh", "-f", str(HERE / "zsh_complete.zsh"), str(COMPLETIONS), line], cwd)
    out = p.stdout.decode(errors="replace")
    assert "@@NTDONE@@" in out, f"zsh did not finish the completion of {line!r}: {out!r}"
    problems = re.findall(r"_nettool:\d+: [^\r\n]*", out)
    assert not problems, f"zsh completing {line!r}: {problems}"
    return re.findall(r"@@NTHIT@@(.*?)@@", out)


def fish_complete(line, cwd):
    script = f"source {shlex.quote(str(COMPLETIONS / 'nettool.fish'))}; complete -C {shlex.quote(line)}"
    p = run_shell(["fish", "--no-config", "-c", script], cwd)
    assert p.returncode == 0 and not p.stderr, p.stderr
    return [l.split("\t")[0] for l in p.stdout.decode().splitlines() if l]


def complete(shell, line, cwd, bash_words=None):
    """What `shell` offers for the last word of `line` (a trailing space: a new empty word).
    bash takes the words as readline splits them (`--auth=x` is three words), given apart."""
    if shell == "bash":
        words = bash_words if bash_words is not None else line.split(" ")
        return bash_complete(words, cwd)
    if shell == "zsh":
        return zsh_complete(line, cwd)
    return fish_complete(line, cwd)


@pytest.fixture(params=SHELLS)
def shell(request):
    if shutil.which(request.param) is None:
        pytest.fail(f"{request.param} is not installed (scripts/install-deps.sh installs it)")
    return request.param


@pytest.fixture
def workdir(tmp_path):
    for name in ("alpha.txt", "beta.bin"):
        (tmp_path / name).write_text("x")
    (tmp_path / "subdir").mkdir()
    return tmp_path


FILES = {"alpha.txt", "beta.bin"}


def offered_files(found):
    return {f.rstrip("/") for f in found} & (FILES | {"subdir"})


# --- the tests ----------------------------------------------------------------------------

def test_the_help_lists_what_these_tests_expect():
    # The expectations below are read from --help; make sure the reading finds something.
    assert set(subcommands()) >= {"serve", "connect", "get", "retrieve", "clean"}
    assert "--auth" in choice_options("get") and "--progress" in choice_options("retrieve")
    assert "--header" in long_options("get") and "--greet" in long_options("serve")


def test_subcommands(shell, workdir):
    found = set(complete(shell, "nettool ", workdir))
    assert set(subcommands()) | {"help"} <= found, found
    assert set(complete(shell, "nettool help ", workdir)) >= set(subcommands())


def test_subcommand_by_its_start(shell, workdir):
    assert complete(shell, "nettool ret", workdir) == ["retrieve"]


@pytest.mark.parametrize("sub", subcommands())
def test_every_long_option_of_each_subcommand(shell, workdir, sub):
    expected = set(long_options(sub)) - {"--help-all"}
    assert expected, f"no long options read from `nettool {sub} --help`"
    found = {f.rstrip("=") for f in complete(shell, f"nettool {sub} --", workdir)}
    assert expected <= found, f"{shell} misses {sorted(expected - found)} of {sub}"


@pytest.mark.parametrize("sub", subcommands())
def test_values_of_fixed_sets(shell, workdir, sub):
    for option, values in choice_options(sub).items():
        found = complete(shell, f"nettool {sub} {option} ", workdir)
        assert sorted(found) == sorted(values), (sub, option, found)
        # The start of a value, and the value attached with '='.
        first = values[0]
        found = complete(shell, f"nettool {sub} {option}={first[:2]}", workdir,
                         bash_words=["nettool", sub, option, "=", first[:2]])
        # fish offers "--auth=basic", bash and zsh the value alone.
        assert {f.split("=")[-1] for f in found} == \
            {v for v in values if v.startswith(first[:2])}, (sub, option, found)


def test_files_after_retrieve_url(shell, workdir):
    assert offered_files(complete(shell, "nettool retrieve https://example.org/x ", workdir)) \
        >= FILES
    # Options before, and an option's value that is not an operand, change nothing.
    line = "nettool retrieve -H 'X: y' --retry 2 https://example.org/x "
    words = ["nettool", "retrieve", "-H", "X: y", "--retry", "2", "https://example.org/x", ""]
    assert offered_files(complete(shell, line, workdir, bash_words=words)) >= FILES


def test_no_files_for_the_url(shell, workdir):
    assert offered_files(complete(shell, "nettool retrieve ", workdir)) == set()
    assert offered_files(complete(shell, "nettool get ", workdir)) == set()


@pytest.mark.parametrize("line", ["nettool get -D ", "nettool get --trace-ascii ",
                                  "nettool connect --hexdump ", "nettool serve --send-file "])
def test_files_for_file_options(shell, workdir, line):
    assert offered_files(complete(shell, line, workdir)) >= FILES


def test_no_files_for_other_values(shell, workdir):
    assert offered_files(complete(shell, "nettool get --max-redirs ", workdir)) == set()
    assert offered_files(complete(shell, "nettool connect --send ", workdir)) == set()


def test_completion_files_are_generated_from_this_binary(tmp_path):
    """completions/ is what scripts/gen-completions.py makes from the binary: an option added
    later reaches the shells by running the generator, and this fails until it is run."""
    if "NETTOOL_COMPLETIONS_DIR" in os.environ:
        pytest.skip("testing other completion files")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-completions.py"), NETTOOL,
                    str(tmp_path)], check=True, capture_output=True, timeout=TIMEOUT)
    for name in ("nettool.bash", "_nettool", "nettool.fish"):
        assert (tmp_path / name).read_text() == (COMPLETIONS / name).read_text(), \
            f"completions/{name} is stale: run scripts/gen-completions.py build/nettool"
