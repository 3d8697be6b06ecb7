"""The README's run command (scripts/serve-demo.sh) serves the essay's greeting on its defaults,
localhost:1024, and `nettool connect localhost 1024` prints it. Port 1024 is fixed by the
contract, so the test runs in a network namespace of its own, where nothing else can hold it:
made unprivileged in a user namespace where the kernel allows it (root is not needed), else
with root. When neither works the test is skipped, and ctest shows it as skipped (conftest.py
maps an all-skipped file to exit 77, tests/CMakeLists.txt's SKIP_RETURN_CODE)."""
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


def private_network_namespace():
    """The unshare command that gives a private network namespace here, or None: a user
    namespace first (no privilege needed), then a plain one when running as root."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    candidates = [["unshare", "--user", "--map-root-user", "--net"]]
    if os.geteuid() == 0:
        candidates.append(["unshare", "--net"])
    for argv in candidates:
        probe = subprocess.run(argv + ["ip", "link", "set", "lo", "up"], capture_output=True,
                               timeout=DEADLINE)
        if probe.returncode == 0:
            return argv
    return None


def test_readme_run_command_serves_the_greeting(tmp_path):
    namespace = private_network_namespace()
    if namespace is None:
        pytest.skip("no private network namespace: needs unshare and ip, and user namespaces "
                    "(kernel.unprivileged_userns_clone) or root")
    env = dict(os.environ, SRC=os.path.abspath(SOURCE_DIR), ERR=str(tmp_path / "demo.err"),
               NETTOOL=NETTOOL)
    r = subprocess.run([*namespace, "bash", "-c", SCRIPT], env=env, capture_output=True,
                       timeout=180 + DEADLINE)
    demo_err = (tmp_path / "demo.err").read_text(errors="replace")
    assert r.returncode == 0, (r.stderr, demo_err)
    assert r.stdout == b"Thank you for connecting!\n"
    assert "nettool connect localhost 1024" in demo_err  # the line telling the user what to try
    assert "connection from" in demo_err                  # the essay's print, on the server side
