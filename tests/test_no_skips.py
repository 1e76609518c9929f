"""The suite's own rule: a test that skips or xfails fails the run (tests/conftest.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parent / "conftest.py"

SKIPPING_TESTS = '''
import pytest

def test_passes():
    pass

def test_calls_skip():
    pytest.skip("no reason to run")

@pytest.mark.skipif(True, reason="a marker said so")
def test_marked_skipif():
    pass

@pytest.mark.xfail(reason="known to fail")
def test_marked_xfail():
    assert False
'''


def _run_pytest(folder: Path, *files: str) -> subprocess.CompletedProcess:
    (folder / "pytest.ini").write_text("[pytest]\n")  # keeps the repository's configuration out
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", *files],
                          cwd=folder, capture_output=True, text=True, timeout=120)


def test_every_kind_of_skip_fails_with_its_reason(tmp_path):
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_skipping.py").write_text(SKIPPING_TESTS)
    result = _run_pytest(tmp_path, "test_skipping.py")
    out = result.stdout
    assert result.returncode == 1, out
    assert "skipped" not in out.splitlines()[-1] and "xfailed" not in out.splitlines()[-1], out
    assert "1 passed" in out.splitlines()[-1], out
    for reason in ("no reason to run", "a marker said so", "known to fail"):
        assert f"skipped: {reason}" in out, (reason, out)


def test_a_module_that_skips_itself_fails(tmp_path):
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_module_skip.py").write_text('import pytest\npytest.importorskip("no_such_module_vsep")\n'
                                                  "def test_never_runs():\n    pass\n")
    result = _run_pytest(tmp_path, "test_module_skip.py")
    assert result.returncode != 0, result.stdout
    assert "skipped at collection" in result.stdout and "no_such_module_vsep" in result.stdout, result.stdout
