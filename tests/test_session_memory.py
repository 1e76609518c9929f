"""Issue #19, memory of a session: the dashboard's large cached results are shared read-only (a write raises), a
kept analysis of more views stands for a subset's, the numbers are the engine's to the bit, jobs give the C heap's
freed pages back, and a whole-song session (in a subprocess) stays under the figure reached."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vsep_app import cache, memo
from vsep_app.state import RunRecord, Source
from vsep_core import api
from vsep_core.analysis import analyse
from vsep_core.experiment import run_experiment
from vsep_core.settings import Settings
from vsep_core.views import RAW, resolve_slices

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def session():
    """The default sample's *Run both* (N = 18) through the dashboard's cache, and the engine's own run of it."""
    from vsep_app.sample import default_pair

    memo.clear_all()  # an earlier test in this process may have kept this pair's analysis
    sample = default_pair()
    source = Source.create(
        label=sample.title, origin="sample", mixture=sample.read("mixture"), other=sample.read("vocal")
    )
    settings = Settings()
    used = tuple(resolve_slices([str(i) for i in range(1, 19)]))
    prog = RunRecord(source.identity, settings, used, cache.progressive(source, settings, used, len(used)))
    greedy = RunRecord(source.identity, settings, used, cache.greedy(source, settings, used))
    pair = cache.pair(source, settings)
    engine_analysis = analyse(pair, settings, views=(RAW, *used))  # the engine's own, not the cache's
    engine = run_experiment(pair, settings, order=used, greedy=True, analysis=engine_analysis)
    return source, settings, used, prog, greedy, engine, engine_analysis


def test_the_runs_through_the_shared_analysis_are_the_engines_to_the_bit(session):
    source, settings, used, prog, greedy, engine, _ = session
    result = cache.experiment_result(source, prog, greedy)
    mine, theirs = dict(result.labelled_runs()), dict(engine.labelled_runs())
    assert list(mine) == list(theirs) and len(mine) >= 19
    for label, run in theirs.items():
        assert mine[label].slices == run.slices
        assert mine[label].final_loss == run.final_loss, label
        np.testing.assert_array_equal(mine[label].loss_curve, run.loss_curve)
        np.testing.assert_array_equal(mine[label].estimate.vocal_raw, run.estimate.vocal_raw)
    scores = cache.quick_scores(source, prog, greedy)["methods"]
    expected = api.quick_scores(engine, cache.truth(source, settings))["methods"]
    assert [m["name"] for m in scores] == [m["name"] for m in expected] and len(expected) >= 4
    for mine_, theirs_ in zip(scores, expected):
        for part in ("vocal", "instrumental"):
            assert np.isfinite(theirs_[part]["si_sdr"])
            assert mine_[part]["si_sdr"] == pytest.approx(theirs_[part]["si_sdr"], rel=1e-9), mine_["name"]


def test_the_analysis_is_shared_read_only_and_a_write_into_it_raises(session):
    source, settings, used, *_ = session
    first, second = cache.analysis(source, settings, used), cache.analysis(source, settings, used)
    assert second.mixture_db is first.mixture_db and second.targets[used[0]] is first.targets[used[0]]  # no copy
    for array in (first.mixture_db, first.phase, first.targets[RAW], first.targets[used[-1]]):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0, 0] = 0
    with pytest.raises(ValueError, match="read-only"):
        np.add(first.mixture_db, 1, out=first.mixture_db)


def test_a_kept_analysis_with_every_view_stands_for_a_subsets_and_the_eq_curves_are_the_engines(session):
    source, settings, used, _, _, engine, engine_analysis = session
    runs = cache.analysis(source, settings, used)
    before = cache._analysis.stats()
    best = engine.best_progressive.slices
    subset = cache.analysis(source, settings, best)
    assert subset.mixture_db is runs.mixture_db and subset.phase is runs.phase  # no second analysis
    assert cache._analysis.stats()["misses"] == before["misses"]
    cache._eq_curves.clear()
    curves = cache.eq_curves(source, settings, best)
    assert cache._analysis.stats()["misses"] == before["misses"]  # a run's EQ curves fingerprint nothing again
    expected = api.eq_curves(engine_analysis, best)
    assert [view for view, _ in curves] == [view for view, _ in expected] == [*best, RAW]
    for (_, eq), (_, want) in zip(curves, expected):
        np.testing.assert_array_equal(eq, want)
        assert not eq.flags.writeable
    assert cache.eq_curves(source, settings, best) is curves  # shared, not copied
    # A view the kept analysis lacks is fingerprinted: another entry, its targets the engine's.
    other = cache.analysis(source, settings.replace(top_db=60.0), best[:1])
    assert cache._analysis.stats()["misses"] == before["misses"] + 1 and other.mixture_db is not runs.mixture_db


def test_the_results_pages_spectrograms_are_shared_read_only(session):
    source, settings, _, prog, greedy, engine, _ = session
    target = cache.magnitude(source, settings, "vocal")
    assert cache.magnitude(source, settings, "vocal")["mag"] is target["mag"] and not target["mag"].flags.writeable
    run = engine.best_progressive
    key = cache.content_key(cache.result_key(prog, greedy), str(run.n))
    n_samples = cache.pair(source, settings).n_samples
    extracted = cache.run_magnitude(key, run.estimate.vocal_raw, settings, n_samples)
    assert cache.run_magnitude(key, run.estimate.vocal_raw, settings, n_samples) is extracted
    with pytest.raises(ValueError, match="read-only"):
        extracted[:] = 0


def test_the_results_pages_budget_keeps_the_run_on_screen_of_the_longest_segment():
    """A run's EQ curves over the byte budget would be made again at every page run: one run of the longest
    segment a session keeps with its audio (default limits, default STFT: 18 slices and the polish) fits."""
    from vsep_app import limits
    from vsep_core.limits import KEEP_AUDIO_SHARE, MAX_SEGMENT_S

    s = Settings()
    windows = 1 + int(MAX_SEGMENT_S * KEEP_AUDIO_SHARE * s.sr) // s.hop_length
    assert 19 * s.n_points * windows * 4 <= limits.EQ_CURVES_MAX_BYTES  # float32 curves
    assert 4 * (1 + s.n_fft // 2) * (1 + 180 * s.sr // s.hop_length) * 4 <= limits.RUN_SPECTROGRAMS_MAX_BYTES
    assert cache._eq_curves.max_bytes == limits.EQ_CURVES_MAX_BYTES
    assert cache._run_magnitude.max_bytes == limits.RUN_SPECTROGRAMS_MAX_BYTES


_TRIM_PROBE = textwrap.dedent(
    """
    import threading, time
    import numpy as np, psutil
    from vsep_app import jobs

    def rss_mb():
        return psutil.Process().memory_info().rss / 2**20

    base = rss_mb()
    kept = []

    def job():  # 300 MB in 64 KB arrays (below glibc's mmap threshold: in this thread's heap), then freed
        arrays = [np.ones(8192) for _ in range(4800)]
        kept.append(arrays[-1])  # the last one stays: the heap cannot simply shrink from its top
        del arrays

    jobs.run(job)
    after_job = rss_mb() - base
    for _ in range(50):  # given back on a background thread, soon
        if rss_mb() - base < after_job / 2:
            break
        time.sleep(0.1)
    print(jobs._malloc_trim() is not None, round(after_job), round(rss_mb() - base))
    """
)


def test_a_job_gives_the_c_heaps_freed_pages_back():
    done = subprocess.run(
        [sys.executable, "-c", _TRIM_PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trims, after_job, later = done.stdout.split()
    on_glibc = platform.libc_ver()[0] == "glibc"
    assert trims == str(on_glibc)  # elsewhere (musl, macOS) nothing is called, and the job still ran
    if on_glibc:  # this machine and CI: the 300 MB freed in the job's heap go back to the system
        assert int(after_job) > 200 and int(later) < int(after_job) / 2, done.stdout


#: What a whole-song session may keep above the idle process (MB), and its peak: issue #19 asks for 400 MB, not
#: reached (BENCHMARKS.md, "Memory of a whole-song dashboard session (issue #19)" and after: 1.22 GB retained since
#: the scoring lets its references go, 1.44-1.53 GB before, main 2.6 GB). The guards keep a second analysis, a copy
#: of it for each caller, the job threads' freed heap, 40 WAVs held as bytes and the scoring's kept references
#: from coming back. The peak (in the scoring) moved between 1.97 and 2.47 GB from run to run on this busy
#: machine: its guard is for a gross regression.
SESSION_GUARD_MB = 1600.0
SESSION_PEAK_GUARD_MB = 3000.0


@pytest.mark.slow
def test_a_whole_song_session_stays_under_the_memory_guard():
    """Load, run both (N = 18), every score, the players' WAVs, spectrograms and EQ of a 3-minute song and the
    Results page once more, driven through the job pool and the cache calls the pages make, in a fresh process
    (benchmarks/session_memory.py; the ZIP is left out: it is made only when pressed)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "session_memory.py"), "--no-zip", "--json-only"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])["this checkout"]
    assert figures["steps"]["optimise: run both (N=18)"]["s"] > 0
    assert figures["caches_mb"]["_analysis"] > 0  # the runs' analysis is kept (shared), and only one:
    assert figures["caches_mb"]["_analysis"] < 400, figures["caches_mb"]
    assert figures["caches_mb"]["_outputs"] < 200, figures["caches_mb"]  # the runs' WAVs are not held as bytes
    # The scoring's references (about 230 MB on this song) are let go when it is done.
    assert figures["engine_caches_mb"]["bss._CACHE"] == 0, figures["engine_caches_mb"]
    assert figures["engine_caches_mb"]["field_metrics._REFERENCE_CACHE"] == 0, figures["engine_caches_mb"]
    assert figures["retained_above_idle_mb"] < SESSION_GUARD_MB, figures
    assert figures["peak_above_idle_mb"] < SESSION_PEAK_GUARD_MB, figures
