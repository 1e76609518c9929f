"""The repository stands alone: every test runs (none may skip), every direct import is a pinned requirement,
and no test reads outside the checkout."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFTEST = REPO / "tests" / "conftest.py"
SOURCES = [
    REPO / "app.py",
    *sorted((REPO / "app_pages").glob("*.py")),
    *sorted((REPO / "vsep_core").rglob("*.py")),
    *sorted((REPO / "vsep_app").rglob("*.py")),
    *sorted((REPO / "tests").glob("*.py")),
    *sorted((REPO / "benchmarks").glob("*.py")),
    REPO / "sample_audio" / "generate.py",
]

SKIPPING_TESTS = """
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
"""


def _run_pytest(folder: Path, test_file: str) -> subprocess.CompletedProcess:
    (folder / "pytest.ini").write_text("[pytest]\n")  # keeps the repository's configuration out
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_kind_of_skip_fails_with_its_reason(tmp_path):
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_skipping.py").write_text(SKIPPING_TESTS)
    result = _run_pytest(tmp_path, "test_skipping.py")
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 1, result.stdout
    assert "1 passed" in summary and "skipped" not in summary and "xfailed" not in summary, summary
    for reason in ("no reason to run", "a marker said so", "known to fail"):
        assert f"skipped: {reason}" in result.stdout, (reason, result.stdout)


def test_a_module_that_skips_itself_fails(tmp_path):
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_module_skip.py").write_text(
        'import pytest\npytest.importorskip("no_such_module_vsep")\ndef test_never_runs():\n    pass\n'
    )
    result = _run_pytest(tmp_path, "test_module_skip.py")
    assert result.returncode != 0, result.stdout
    assert "skipped at collection" in result.stdout and "no_such_module_vsep" in result.stdout, result.stdout


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _requirement_names() -> set[str]:
    """Distribution names (and extras) pinned in requirements*.txt, normalised as pip does."""
    names = set()
    for req_file in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO / req_file).read_text().splitlines():
            match = re.match(r"\s*([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?\s*==", line)
            if match:
                names.add(match.group(1))
                names.update((match.group(2) or "").split(","))
    return {re.sub(r"[-_.]+", "-", name).lower() for name in names if name}


def test_every_direct_import_is_a_pinned_requirement():
    local = {p.stem for folder in (REPO, REPO / "tests", REPO / "benchmarks") for p in folder.glob("*.py")}
    local |= {p.name for p in REPO.iterdir() if p.is_dir()}
    third_party = set().union(*map(_top_level_imports, SOURCES)) - set(sys.stdlib_module_names) - local
    assert "numpy" in third_party and "numba" in third_party  # the scan sees the engine's imports
    distributions = importlib.metadata.packages_distributions()
    pinned = _requirement_names()
    missing = {
        module: distributions.get(module, ["?"])
        for module in sorted(third_party)
        if not any(re.sub(r"[-_.]+", "-", d).lower() in pinned for d in distributions.get(module, [module]))
    }
    assert not missing, f"imported directly but not pinned in requirements*.txt (module: distributions): {missing}"


def test_no_test_reads_outside_the_checkout():
    """The data the tests need is in tests/data; a path to ../shared would skip or fail on a plain clone."""
    offenders = [
        p.name
        for p in SOURCES
        if p.parent == REPO / "tests"
        and p != Path(__file__).resolve()
        and re.search(r"""["'/]shared["'/]|parents\[2\]""", p.read_text())
    ]
    assert not offenders, offenders


_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_in_the_documentation_resolves_inside_the_clone():
    """A plain clone has no ../shared: the README's links (the method, the serving guide…) must point at files
    the repository itself holds."""
    documents = [
        REPO / "README.md",
        REPO / "RESULTS.md",
        REPO / "BENCHMARKS.md",
        *sorted((REPO / "docs").glob("*.md")),
        *sorted(REPO.glob("*/README.md")),
    ]
    checked, broken = 0, []
    for document in documents:
        for target in _MD_LINK.findall(document.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # web addresses and in-page anchors
            path = (document.parent / target.split("#", 1)[0]).resolve()
            checked += 1
            if not path.exists() or REPO not in (path, *path.parents):
                broken.append(f"{document.relative_to(REPO)} → {target}")
    assert checked > 5, "the scan found too few links to be reading the documents"
    assert not broken, broken
