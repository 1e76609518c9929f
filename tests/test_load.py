"""Eight visitors at once on one dashboard server, in a real browser (issue 8's load test).

Eight browser sessions (Debian's Chromium through Playwright, one context
each) on one ``streamlit run serve.py``, each with a pair of its own (a
different vocal, instrumental, offset and gain; file names carrying a word of
their own), uploaded through the Load page's file uploaders. Every session
presses *Load*, then *Run both*, then opens Results at the same time as the
others. The test checks that every session finishes; that each shows only its
own file names; that each one's ZIP holds the numbers of its own pair (equal
to ``python -m vsep_core run`` on that pair's files); that at least one session
was told its place in the job queue; that the server never died; and that its
resident memory stayed under ``PEAK_LIMIT_MB`` (sampled every 0.1 s).

The same scenario, with figures printed, is ``benchmarks/browser_bench.py --load``.

Then two visitors who leave mid-job (issue 17): two sessions start long runs (the iterative loop at the
dashboard's most iterations, every slice, the progressive test and the greedy search) that fill both job
slots, and close their tabs. Their jobs must stop (the server's CPU falls back) and a third visitor's run
must start and finish long before the abandoned runs would have ended.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from browser_support import (
    OUTPUT,
    MemorySampler,
    Server,
    act,
    block_outside_requests,
    launch,
    make_distinct_pairs,
    missing_browser_reason,
    nav,
    run_sessions,
    wait_for_run,
    wait_js,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(missing_browser_reason() is not None, reason=missing_browser_reason() or ""),
]

SESSIONS = 8
PEAK_LIMIT_MB = 2000  # the whole server process with eight sessions' pairs, runs and results


def cli_summary(pair: dict, out) -> dict:
    """What the engine's command line finds for this pair with the dashboard's defaults (8 slices, greedy)."""
    cmd = [
        sys.executable,
        "-m",
        "vsep_core",
        "run",
        "--mixture",
        str(pair["mixture"]),
        "--vocal",
        str(pair["vocal"]),
        "--slices",
        "8",
        "--greedy",
        "--out",
        str(out),
        "--no-plots",
        "--quiet",
    ]
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
    print(
        "phases (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in outcome["phases"].items())
        + f"; Load pressed again: {outcome['load_retries'] or 'never'}"
    )
    print(f"{SESSIONS} sessions; server RSS {memory.first / 2**20:.0f} MB at start, peak {peak_mb:.0f} MB")
    for s in sessions:
        print(
            f"session {s['word']}: load {s['load_s']:.1f} s, run both {s['run_s']:.1f} s, "
            f"results {s['results_s']:.1f} s{', waited in the queue' if s['waited'] else ''}"
        )

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
    assert (
        len({round(losses(json.loads(zipfile.ZipFile(s["zip"]).read("summary.json")))[-1], 6) for s in sessions})
        == SESSIONS
    )


def _iterative_pass_s() -> float:
    """One pass of the iterative loop at 1000 iterations on the default sample, here and now (seconds)."""
    from browser_support import REPO

    from vsep_core.analysis import analyse
    from vsep_core.audio import prepare_pair
    from vsep_core.optimise import run_chain
    from vsep_core.settings import Settings
    from vsep_core.views import SLICE_NAMES

    folder = REPO / "sample_audio" / "sung_vowels_pop"
    settings = Settings().replace(iterations=1000, pass_method="iterative")
    pair = prepare_pair(folder / "mixture.wav", vocal=folder / "vocal.wav", settings=settings)
    analysis = analyse(pair, settings, views=("slice_0_raw", SLICE_NAMES[0]))
    run_chain(analysis, (SLICE_NAMES[0],))  # compiled once
    start = time.perf_counter()
    run_chain(analysis, (SLICE_NAMES[0],))  # one pass and the polish
    return (time.perf_counter() - start) / 2


def _start_long_run(page, timeout: float, iterations: int = 1000) -> None:
    """On Optimise: every slice, the iterative loop at ``iterations``, Run both; wait until it computes."""
    act(page, lambda: nav(page, "Optimise"), timeout)
    act(page, lambda: page.get_by_text("Iterative loop (as the research code)").click(), timeout)
    field = page.get_by_role("spinbutton", name="Iterations per pass")
    field.fill(str(iterations))
    act(page, lambda: field.press("Enter"), timeout)
    slider = page.locator(".st-key-opt_n input[type=range]").first
    slider.focus()
    act(page, lambda: slider.press("End"), timeout)  # N = 18
    assert slider.get_attribute("aria-valuetext") == "18", "could not set N = 18"
    page.get_by_role("button", name="Run both").click()
    wait_js(page, "document.body.innerText.includes('Progressive run N =')", timeout, what="the run to compute")


def test_two_visitors_who_leave_mid_job_free_their_slots_for_a_third(tmp_path):
    import psutil
    from playwright.sync_api import sync_playwright

    timeout = 180.0  # the machine may be shared: seconds for one step of a page, generous
    pass_s = _iterative_pass_s()
    slices = 18
    # What each abandoned job still had to do, at the least: the progressive test N = 1 … 18 is 189 passes
    # (each N its slices and the polish), before its greedy search (about 1300 more).
    abandoned_at_least_s = sum(n + 1 for n in range(1, slices + 1)) * pass_s
    log = OUTPUT / "leave_mid_job_server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with Server(log_path=log, env={"VSEP_JOB_WORKERS": "2"}) as server, sync_playwright() as p:
        browser = launch(p)
        try:
            leaving = []
            for _ in range(2):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.set_default_timeout(timeout * 1000)
                block_outside_requests(context)
                page = context.new_page()
                page.goto(server.url)
                wait_for_run(page, 0, timeout)
                leaving.append((context, page))
            # Settings of their own: two sessions asking for the same cached result would share one computation.
            for (_, page), iterations in zip(leaving, (1000, 990)):
                _start_long_run(page, timeout, iterations)
            server_process = psutil.Process(server.proc.pid)
            busy = server_process.cpu_percent(interval=1.0)
            closed_at = time.perf_counter()
            for context, _ in leaving:
                context.close()
            # The server logs each job it stops (vsep_app.jobs): when have both stopped?
            freed_after = stopped_after = None
            while time.perf_counter() - closed_at < 60 and stopped_after is None:
                text = log.read_text(errors="replace")
                if freed_after is None and text.count("vsep job slot given back") >= 2:
                    freed_after = time.perf_counter() - closed_at
                if text.count("vsep job stopped: JobAbandoned") >= 2:
                    stopped_after = time.perf_counter() - closed_at
                time.sleep(0.05)
            quiet = server_process.cpu_percent(interval=1.0)
            third = browser.new_context(viewport={"width": 1280, "height": 900})
            third.set_default_timeout(timeout * 1000)
            outside = block_outside_requests(third)
            page = third.new_page()
            page.goto(server.url)
            wait_for_run(page, 0, timeout)
            act(page, lambda: nav(page, "Optimise"), timeout)
            pressed = time.perf_counter()
            page.get_by_role("button", name="Run the progressive test").click()
            wait_js(
                page,
                "document.body.innerText.includes('Progressive test done')",
                timeout,
                what="the third visitor's run",
            )
            third_s = time.perf_counter() - pressed
            since_closed_s = time.perf_counter() - closed_at
        finally:
            browser.close()
        assert server.alive(), f"the server died; see {log}"
    print(
        f"\none iterative pass {pass_s:.2f} s (load {open('/proc/loadavg').read().split()[0]}); server CPU "
        f"{busy:.0f} % with the two long runs; after their tabs closed both slots were free in "
        f"{freed_after if freed_after is None else round(freed_after, 2)} s and both jobs stopped (at the end of "
        f"their pass) in {stopped_after if stopped_after is None else round(stopped_after, 2)} s, then "
        f"{quiet:.0f} % CPU; the "
        f"third visitor's run took {third_s:.1f} s ({since_closed_s:.1f} s after the tabs closed); the abandoned "
        f"runs had at least {abandoned_at_least_s:.0f} s of work left"
    )
    assert freed_after is not None and stopped_after is not None, "the abandoned jobs were not stopped"
    assert since_closed_s < abandoned_at_least_s, "the third visitor waited for the abandoned jobs"
    assert outside == []
