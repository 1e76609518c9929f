"""Shared fixtures: the vendored evaluation pair and golden numbers (tests/data), and the no-skip rule.

Everything the suite reads is in the repository, so a plain clone runs every
test. A skipped (or expected-to-fail) test is turned into a failure here: a
test that cannot run on a machine set up by ``scripts/setup.sh --test`` is a
broken test or a broken setup, and either must show.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# The results store (issue #20) of every app, server and CLI the tests start: a temporary folder, never the
# default one beside the app (tests must not write into the repository). Tests that need their own set it.
os.environ["VSEP_STORE"] = tempfile.mkdtemp(prefix="vsep_test_store_")
atexit.register(shutil.rmtree, os.environ["VSEP_STORE"], True)
DATA = REPO / "tests" / "data"
EVAL_PAIR_DIR = DATA / "speech_brahms_4.7s"
GOLDEN_DIR = DATA / "golden"
SETUP_HINT = "run `bash scripts/setup.sh --test` (or `bash scripts/test.sh`), which installs it"


# --- no skips -----------------------------------------------------------------------------------


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")  # longrepr is (path, line, "Skipped: reason")


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: sees the xfail bookkeeping
def pytest_runtest_makereport(item, call):
    """A test that skips or xfails fails instead, with the reason it gave."""
    report = yield
    if report.skipped:
        reason = getattr(report, "wasxfail", None) or _skip_reason(report)
        if hasattr(report, "wasxfail"):
            del report.wasxfail
        report.outcome = "failed"
        report.longrepr = f"this suite allows no skips (tests/conftest.py), and {item.nodeid} skipped: {reason}"
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector):
    """A module that skips itself at import (``pytest.skip(allow_module_level=True)``, importorskip) fails."""
    report = yield
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = (
            f"this suite allows no skips (tests/conftest.py), and {collector.nodeid} skipped "
            f"at collection: {_skip_reason(report)}"
        )
    return report


# --- what the machine must have ---------------------------------------------------------------


@pytest.fixture(scope="session")
def require_browser() -> None:
    """Fail (never skip) when Chromium or Playwright is missing, saying which."""
    from browser_support import missing_browser_reason

    reason = missing_browser_reason()
    if reason is not None:
        pytest.fail(f"{reason}; {SETUP_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def require_ffmpeg() -> None:
    """Fail (never skip) when ffmpeg is not on PATH."""
    if shutil.which("ffmpeg") is None:
        pytest.fail(f"ffmpeg is not on PATH; {SETUP_HINT}", pytrace=False)


# --- vendored data ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def eval_pair_dir() -> Path:
    """The 4.7 s real evaluation pair (speech over Brahms), vendored in tests/data."""
    return EVAL_PAIR_DIR


@pytest.fixture(scope="session")
def golden():
    """Loader of a golden file by slice count (8 or 18)."""

    def load(n_slices: int) -> dict:
        return json.loads((GOLDEN_DIR / f"speech_brahms_4.7s_{n_slices}slices.json").read_text())

    return load


@pytest.fixture(scope="session")
def synthetic_pair():
    """A small made-up pair (2 s): a vibrato 'voice' over a chord and noise bursts."""
    from vsep_core.audio import Pair

    sr = 22050
    t = np.arange(int(2.0 * sr)) / sr
    f0 = 220 * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2)
    rng = np.random.default_rng(0)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (130.8, 164.8, 196.0)) * 0.3
    bursts = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 4 * t) > 0.95) * 0.3
    vocal = (0.4 * voice / np.max(np.abs(voice))).astype(np.float32)
    mixture = (vocal + chord + bursts).astype(np.float32)
    return Pair(mixture=mixture, vocal=vocal, sr=sr, info={"mixture": "synthetic"})
