"""The test machinery itself: a file whose every test was skipped must not read as passed in
ctest (conftest.py turns it into exit 77, tests/CMakeLists.txt's SKIP_RETURN_CODE), and a
file where something ran keeps pytest's own status. Each case runs pytest on a scratch file
next to a copy of the real conftest.py."""
import os
import shutil
import subprocess

import pytest

from conftest import DEADLINE, SKIPPED_EXIT, SOURCE_DIR

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    "every test skipped": ("import pytest\n\n"
                           "def test_a():\n    pytest.skip('no namespace')\n\n"
                           "def test_b():\n    pytest.skip('no namespace')\n", SKIPPED_EXIT),
    "one passed, one skipped": ("import pytest\n\n"
                                "def test_a():\n    pytest.skip('no namespace')\n\n"
                                "def test_b():\n    assert True\n", 0),
    "one failed, one skipped": ("import pytest\n\n"
                                "def test_a():\n    pytest.skip('no namespace')\n\n"
                                "def test_b():\n    assert False\n", 1),
    "all passed": ("def test_a():\n    assert True\n", 0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_self_exit_status_of_a_file_by_what_ran(tmp_path, case):
    source, expected = CASES[case]
    shutil.copy(os.path.join(HERE, "conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_scratch.py").write_text(source)
    env = dict(os.environ, NETTOOL_SOURCE_DIR=os.path.abspath(SOURCE_DIR))
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(tmp_path / "test_scratch.py")], cwd=tmp_path, env=env,
                       capture_output=True, timeout=6 * DEADLINE)
    assert r.returncode == expected, r.stdout.decode() + r.stderr.decode()
