"""Eight visitors at once on one dashboard server, in a real browser (issue 8's load test).

Eight browser sessions (Debian's Chromium through Playwright, one context
each) on one ``streamlit run app.py``, each with a pair of its own (a
different vocal, instrumental, offset and gain; file names carrying a word of
their own), uploaded through the Load page's file uploaders. Every session
presses *Load*, then *Run both*, then opens Results at the same time as the
others. The test checks that every session finishes; that each shows only its
own file names; that each one's ZIP holds the numbers of its own pair (equal
to ``python -m vsep_core run`` on that pair's files); that at least one session
was told its place in the job queue; that the server never died; and that its
resident memory stayed under ``PEAK_LIMIT_MB`` (sampled every 0.1 s).

The same scenario, with figures printed, is ``benchmarks/browser_bench.py --load``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from browser_support import (OUTPUT, MemorySampler, Server, launch, make_distinct_pairs, missing_browser_reason,
                             run_sessions)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(missing_browser_reason() is not None, reason=missing_browser_reason() or "")]

SESSIONS = 8
PEAK_LIMIT_MB = 2000  # the whole server process with eight sessions' pairs, runs and results


def cli_summary(pair: dict, out) -> dict:
    """What the engine's command line finds for this pair with the dashboard's defaults (8 slices, greedy)."""
    cmd = [sys.executable, "-m", "vsep_core", "run", "--mixture", str(pair["mixture"]), "--vocal", str(pair["vocal"]),
           "--slices", "8", "--greedy", "--out", str(out), "--no-plots", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "summary.json").read_text())


def losses(summary: dict) -> list[float]:
    return [run["final_loss"] for run in summary["progressive"]] + [summary["greedy"]["loss"]]


def test_eight_sessions_at_once_each_see_their_own_results(tmp_path):
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    pairs = make_distinct_pairs(tmp_path / "pairs", SESSIONS)
    log = OUTPUT / "load_test_server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with Server(log_path=log) as server, MemorySampler(server) as memory, sync_playwright() as p:
        browser = launch(p)
        try:
            outcome = run_sessions(server, browser, pairs, tmp_path)
        finally:
            browser.close()
        assert server.alive(), f"the server died; see {log}"
    sessions = outcome["sessions"]
    peak_mb = memory.peak / 2**20
    browser_s = time.perf_counter() - start
    with ThreadPoolExecutor(2) as workers:  # after the browser part: the engine's own answer for each pair
        expected = list(workers.map(lambda pair: cli_summary(pair, tmp_path / f"cli_{pair['index']}"), pairs))

    print(f"\nbrowser part {browser_s:.0f} s, command-line checks {time.perf_counter() - start - browser_s:.0f} s")
    print("phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in outcome["phases"].items())
          + f"; Load pressed again: {outcome['load_retries'] or 'never'}")
    print(f"{SESSIONS} sessions; server RSS {memory.first / 2**20:.0f} MB at start, peak {peak_mb:.0f} MB")
    for s in sessions:
        print(f"session {s['word']}: load {s['load_s']:.1f} s, run both {s['run_s']:.1f} s, "
              f"results {s['results_s']:.1f} s{', waited in the queue' if s['waited'] else ''}")

    assert not outcome["outside"], f"requests to other hosts: {sorted(set(outcome['outside']))}"
    assert len(sessions) == SESSIONS
    assert all(rss > 0 for _, rss in memory.samples), "the server process was gone during the test"
    assert peak_mb < PEAK_LIMIT_MB
    assert any(s["waited"] for s in sessions), "no session was ever shown its place in the job queue"

    words = [pair["word"] for pair in pairs]
    for pair, s, cli in zip(pairs, sessions, expected):
        others = [w for w in words if w != pair["word"]]
        assert pair["mixture"].name in s["text"] and pair["vocal"].name in s["text"]
        assert not [w for w in others if w in s["text"]], f"session {pair['word']} shows another's names"
        with zipfile.ZipFile(s["zip"]) as zf:
            summary_text = zf.read("summary.json").decode()
        assert pair["word"] in summary_text and not [w for w in others if w in summary_text]
        assert losses(json.loads(summary_text)) == pytest.approx(losses(cli), rel=1e-6, abs=1e-9)
    # Different pairs really gave different numbers (the comparison above can tell sessions apart).
    assert len({round(losses(json.loads(zipfile.ZipFile(s["zip"]).read("summary.json")))[-1], 6)
                for s in sessions}) == SESSIONS
