"""The README's run command (scripts/serve-demo.sh) serves the essay's greeting on its defaults,
localhost:1024, and `nettool connect localhost 1024` prints it. Port 1024 is fixed by the
contract, so the test runs in a network namespace of its own, where nothing else can hold it."""
import os
import shutil
import subprocess

import pytest

from conftest import DEADLINE, NETTOOL

SOURCE_DIR = os.environ.get("NETTOOL_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")

# Runs inside `unshare --net`: loopback up, the demo in the background, readiness from its
# "listening on" line (bounded wait), the client, then the demo stopped by its pid.
SCRIPT = r'''
set -u
ip link set lo up
"$SRC/scripts/serve-demo.sh" 2>"$ERR" &
pid=$!
for _ in $(seq 1 2400); do
    grep -q "listening on" "$ERR" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
"$NETTOOL" connect localhost 1024
status=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid"
exit $status
'''


def test_readme_run_command_serves_the_greeting(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root, unshare and ip to make a private network namespace")
    env = dict(os.environ, SRC=os.path.abspath(SOURCE_DIR), ERR=str(tmp_path / "demo.err"),
               NETTOOL=NETTOOL)
    r = subprocess.run(["unshare", "--net", "bash", "-c", SCRIPT], env=env, capture_output=True,
                       timeout=180 + DEADLINE)
    demo_err = (tmp_path / "demo.err").read_text(errors="replace")
    assert r.returncode == 0, (r.stderr, demo_err)
    assert r.stdout == b"Thank you for connecting!\n"
    assert "nettool connect localhost 1024" in demo_err  # the line telling the user what to try
    assert "connection from" in demo_err                  # the essay's print, on the server side
