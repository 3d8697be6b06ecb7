"""One JSON vocabulary (nettool(1), JSON OUTPUT; docs/nettool-json.schema.json): the schema is
a valid schema, the checks in conftest.py reject the shapes nettool used to print, every
subcommand's failure under --json is one `error` object on its JSON stream, and
`retrieve --json URL -` keeps stdout for the data alone."""
import json
import os
import signal
import socket

import jsonschema
import pytest

from conftest import SCHEMA, check_captured_json, json_lines, json_rules, parse_json_line, run
from http_helpers import HttpServer
from serve_helpers import start_serve


@pytest.fixture
def web():
    server = HttpServer()
    server.static("/data.bin", b"\x00data on stdout\n{not json}\n")
    yield server
    server.close()


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


# --- self-tests: the central checks fail on what they must reject ----------------------------

OLD_OR_WRONG = [
    {"event": "listening", "address": "127.0.0.1", "port": 1, "transport": "tcp"},  # old serve
    {"event": "connection", "transport": "tcp", "address": "127.0.0.1", "port": 5},
    {"event": "error", "message": "no exit status"},
    {"event": "error", "exit": 0, "message": "a success is no error"},
    {"host": "h", "address": "127.0.0.1", "port": 1, "open": True},                  # old -z
    {"event": "port", "host": "h", "peer": {"address": "a", "port": 1}, "open": False},
    {"url": "u", "filename": "f", "status": 200, "headers": {}, "bytes": 1,          # old retrieve
     "sha256": "", "seconds": 0},
    {"event": "saved", "url": "u", "path": "f", "status": 200, "headers": {}, "bytes": -1,
     "sha256": "", "seconds": 0},
    {"event": "progress", "name": "f", "bytes": 1, "total": None, "seconds": 0, "done": False},
    {"path": "p", "url": "u", "bytes": 1, "action": "removed", "reason": ""},         # old clean
    {"event": "listed", "path": "p", "url": "u", "bytes": 1},
    {"event": "close", "transport": "tcp", "peer": {"address": "a", "port": 1},
     "bytes_in": 1, "bytes_out": 1},
    {"event": "frobnicated"},
]


@pytest.mark.parametrize("obj", OLD_OR_WRONG, ids=[json.dumps(o)[:60] for o in OLD_OR_WRONG])
def test_self_schema_rejects_old_and_wrong_shapes(obj):
    with pytest.raises(AssertionError, match="outside docs/nettool-json.schema.json"):
        parse_json_line(json.dumps(obj))


def test_self_captured_output_is_checked_by_stream():
    bad = b'{"event": "listed"}\n'
    with pytest.raises(AssertionError):
        check_captured_json(["clean", "--json"], bad, b"")
    with pytest.raises(AssertionError):  # under --json, stdout holds JSON only
        check_captured_json(["clean", "--json"], b"removed x\n", b"")
    with pytest.raises(AssertionError):  # serve's events are on stderr
        check_captured_json(["serve", "--json"], b"", b'{"event": "listening"}\n')
    with pytest.raises(AssertionError):
        check_captured_json(["retrieve", "--progress", "json", "u", "f"], b"", b'{"event": "progress"}\n')
    # Data is not checked: get's body, retrieve's data with FILE '-'.
    check_captured_json(["get", "u"], bad, b"")
    check_captured_json(["retrieve", "--json", "u", "-"], bad, b"")
    assert json_rules(["retrieve", "--json", "u", "-"]) == (None, "objects")


def test_self_wait_event_checks_every_json_line_it_reads(procs):
    script = "import sys; sys.stderr.write('{\"event\": \"listening\", \"port\": 1}\\n')"
    proc = procs(["/usr/bin/python3", "-c", script])
    with pytest.raises(AssertionError, match="outside docs/nettool-json.schema.json"):
        proc.wait_event("listening")


def test_self_json_lines_rejects_a_non_json_line_where_only_json_may_be():
    with pytest.raises(AssertionError, match="not a JSON line"):
        json_lines("nettool: note: hello\n", only_json=True)
    assert json_lines("nettool: note: hello\n") == []


# --- a failure under --json is one error object, on the subcommand's JSON stream ------------

def error_object(text):
    [obj] = json_lines(text, only_json=True)
    assert obj["event"] == "error", obj
    return obj


def test_serve_failure_is_one_error_object_on_stderr():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        r = run("serve", "--json", f"127.0.0.1:{holder.getsockname()[1]}")
    finally:
        holder.close()
    assert r.returncode == 4
    err = error_object(r.stderr)  # nothing else on stderr: no human line beside it
    assert err["exit"] == 4 and "in use" in err["message"]
    assert r.stdout == b""


def test_serve_usage_error_under_json_is_an_error_object():
    r = run("serve", "--json", "--send-file", "", "127.0.0.1:0")
    assert r.returncode == 2
    err = error_object(r.stderr)
    assert err["exit"] == 2 and "--send-file" in err["message"]


def test_connect_scan_failure_is_an_error_object_on_stdout():
    r = run("connect", "-z", "--json", "no-such-host.invalid", "80")
    assert r.returncode == 4, r.stderr
    err = error_object(r.stdout)
    assert err["exit"] == 4 and "no-such-host.invalid" in err["message"]
    assert r.stderr.startswith(b"nettool: error: ")  # and the human line for the terminal


def test_connect_json_without_scan_is_an_error_object():
    r = run("connect", "--json", "127.0.0.1", "1")
    assert r.returncode == 2
    assert error_object(r.stdout)["exit"] == 2


def test_retrieve_failure_is_an_error_object_on_stdout(web, tmp_path):
    r = run("retrieve", "--json", web.url("/missing"), str(tmp_path / "f"))
    assert r.returncode == 8
    err = error_object(r.stdout)
    assert err["exit"] == 8 and "404" in err["message"]
    assert b"404" in r.stderr


def test_retrieve_json_with_file_dash_keeps_stdout_for_the_data(web):
    r = run("retrieve", "--json", web.url("/data.bin"), "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"\x00data on stdout\n{not json}\n"  # the data and nothing else
    [saved] = json_lines(r.stderr)
    assert saved["event"] == "saved" and saved["path"] == "-" and saved["bytes"] == len(r.stdout)
    failed = run("retrieve", "--json", web.url("/missing"), "-")
    assert failed.returncode == 8 and failed.stdout == b""
    assert error_object(failed.stderr)["exit"] == 8


def test_retrieve_progress_json_carries_url_and_path(web, tmp_path):
    target = tmp_path / "p.bin"
    r = run("retrieve", "--progress", "json", web.url("/data.bin"), str(target))
    assert r.returncode == 0, r.stderr
    events = json_lines(r.stderr, only_json=True)
    assert events[-1] == {"event": "progress", "url": web.url("/data.bin"), "path": str(target),
                          "bytes": 27, "total": 27, "seconds": events[-1]["seconds"],
                          "done": True}


def test_clean_failure_is_an_error_object_on_stdout(tmp_path):
    area = tmp_path / "shared"
    area.mkdir()
    os.chmod(area, 0o777)
    r = run("clean", "--json", env=dict(os.environ, NETTOOL_TMPDIR=str(area)))
    assert r.returncode == 3
    err = error_object(r.stdout)
    assert err["exit"] == 3 and "not safe" in err["message"]


def test_clean_usage_error_under_json_is_an_error_object():
    r = run("clean", "--json", "--older-than", "soon")
    assert r.returncode == 2
    assert error_object(r.stdout)["exit"] == 2


def test_sigint_under_json_is_an_error_object_with_130(procs):
    proc, _ = start_serve(procs, "--echo", "-k", "127.0.0.1:0")
    proc.signal(signal.SIGINT)
    assert proc.wait() == 130
    events = json_lines(proc.rest_of_stderr(), only_json=True)
    assert events[-1] == {"event": "error", "exit": 130, "message": "interrupted (SIGINT)"}


def test_every_event_name_in_the_schema_is_documented_in_nettool_1():
    source = os.environ.get("NETTOOL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    page = open(os.path.join(source, "man", "nettool.1"), encoding="utf-8").read()
    page = page.replace("\\-", "-").replace("\\(dq", '"').replace("\\&", "").replace("\\%", "")
    for name in SCHEMA["properties"]["event"]["enum"]:
        assert name in page, f"event {name} is not documented in man/nettool.1"
    assert "docs/nettool-json.schema.json" in page
