"""Memory of one dashboard session on a whole 3-minute song (issue #19): run both (N = 18), then Results.

    .venv/bin/python benchmarks/session_memory.py            # this checkout
    .venv/bin/python benchmarks/session_memory.py --compare /path/to/old/checkout   # old and new, same run
                                                    # (--compare again for more checkouts, in that order)

Each measurement runs in a fresh process (``--child``): it imports the dashboard's modules and warms the engine
(the idle server), then makes the calls the pages make, in the order a visitor meets them, the heavy ones through
the job pool as the pages run them (:mod:`vsep_app.jobs`): Load (pair, alignment, waveforms), Optimise's *Run
both* (progressive N = 1 … 18, then the greedy search; each kept as the session keeps it, a ``RunRecord``), then
Results (the runs' SI-SDR and every score, as when "Measure separation quality" is pressed; the players' WAVs; the
spectrograms of the best run; its EQ curves; the ideal masks' players only up to the page's ``AB_MAX_S``), then Results once more (a second script run, as when a widget changes: cache hits), and the ZIP and
the HTML report when pressed. Resident memory (psutil) is sampled every 20 ms; the figures are the peak and what is
still held at the end (the session's records alive, the server's caches as they are), both above the idle
process, and each step's seconds.

The song is the bundled samples repeated to 180 s (``browser_bench.make_long_pair``), 22050 Hz mono, the
dashboard's segment limit raised to the engine's (``VSEP_MAX_SEGMENT_S=360``), as ``song_bench.py`` does.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Issue #19's figure for a whole-song session, above the idle server.
TARGET_MB = 400.0


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class _Sampler:
    def __init__(self):
        self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, _rss_mb())


def session(mixture_path: Path, vocal_path: Path, *, zip_too: bool = True) -> dict:
    """Drive one whole-song session through the calls the pages make; memory figures in MB (this process)."""
    os.environ.setdefault("VSEP_MAX_SEGMENT_S", "360")
    from vsep_app import cache, jobs, limits
    from vsep_app.state import RunRecord, Source
    from vsep_core import report
    from vsep_core.experiment import warm_up
    from vsep_core.settings import Settings
    from vsep_core.views import resolve_slices

    warm_up()
    gc.collect()
    idle = _rss_mb()
    sampler = _Sampler()
    steps = {}

    def step(name: str, work):
        t = time.perf_counter()
        out = work()
        steps[name] = {
            "s": round(time.perf_counter() - t, 2),
            "rss_above_idle_mb": round(_rss_mb() - idle, 1),
            "peak_above_idle_mb": round(sampler.peak - idle, 1),
        }
        print(
            f"  {name:<32} {steps[name]['s']:7.2f} s   rss +{steps[name]['rss_above_idle_mb']:7.1f} MB   "
            f"peak +{steps[name]['peak_above_idle_mb']:7.1f} MB",
            flush=True,
        )
        return out

    source = Source.create(
        label="song",
        origin="upload",
        mixture=mixture_path.read_bytes(),
        other=vocal_path.read_bytes(),
        mixture_name=mixture_path.name,
        other_name=vocal_path.name,
    )
    settings = Settings().replace(duration_s=None)  # "Whole song"
    kept = {}  # the session's state: its RunRecords
    step(
        "load (pair, alignment)",
        lambda: (cache.pair(source, settings), cache.alignment(source, settings), cache.waveforms(source, settings)),
    )
    used = tuple(resolve_slices([str(i) for i in range(1, 19)]))

    def run_both():  # as app_pages/optimise.py: each search a job with events, on the job pool's thread
        curves = {}  # what the page's event handler keeps: the runs' loss curves

        def show(events, elapsed, done):
            curves.update({e[2].n: e[2].loss_curve for e in events if e[0] == "run"})

        out = jobs.run_with_events(lambda emit: cache.progressive(source, settings, used, len(used), emit), show)
        kept["prog"] = RunRecord(source.identity, settings, used, out, 1.0)
        out = jobs.run_with_events(lambda emit: cache.greedy(source, settings, used, emit), lambda *a: None)
        kept["greedy"] = RunRecord(source.identity, settings, used, out, 1.0)

    step("optimise: run both (N=18)", run_both)
    prog, greedy = kept["prog"], kept["greedy"]

    def results_page(again: str = "", pressed: bool = True) -> dict:
        """The Results page's calls (app_pages/results.py), under its conditions (``pressed``: the "Measure
        separation quality" button of a long segment): the heavy ones as jobs, the rest on this thread."""
        result = step(
            f"results{again}: experiment", lambda: jobs.run(lambda: cache.experiment_result(source, prog, greedy))
        )
        duration_s = cache.pair(source, settings).duration_s
        metrics = None
        if duration_s <= limits.AUTO_MEASURE_S or pressed:
            step(f"results{again}: quick scores", lambda: cache.quick_scores(source, prog, greedy))
            metrics = step(
                f"results{again}: every score",
                lambda: jobs.run_with_events(
                    lambda emit: cache.evaluation(source, prog, greedy, emit), lambda *a: None
                ),
            )

        def players():  # the WAVs the page plays, held as Streamlit's media store holds them while shown
            files = jobs.run(lambda: cache.run_files(source, prog, greedy)["files"])
            best = report.run_wav_paths(str(result.best_progressive.n), "vocal")
            played = ["1_slices/mixture.wav", "1_slices/target.wav", best["instrumental"]]  # the top three
            if duration_s <= getattr(limits, "EVERY_RUN_PLAYED_MAX_S", float("inf")):  # a player for every run
                played += [p for p in files if p.endswith(".wav") and p not in played and "_full_quality" not in p]
            else:  # the run chosen to hear (the lowest loss at first)
                played.append(best["vocal"])
            kept["played"] = [files[path] for path in played]

        step(f"results{again}: players' WAVs", players)
        if duration_s <= limits.AB_MAX_S:
            step(f"results{again}: ideal masks' WAVs", lambda: cache.oracle_wavs(source, settings))
        best = result.best_progressive
        run_key = cache.content_key(cache.result_key(prog, greedy), str(best.n))
        n_samples = cache.pair(source, settings).n_samples

        def spectrograms():
            cache.magnitude(source, settings, "vocal"), cache.magnitude(source, settings, "mixture")
            return cache.run_magnitude(run_key, best.estimate.vocal_raw, settings, n_samples)

        step(f"results{again}: spectrograms", spectrograms)
        step(f"results{again}: EQ curves", lambda: cache.eq_curves(source, settings, best.slices))
        return metrics

    metrics = results_page()
    # A second script run of the page (another widget changed; the button is not pressed again): cache hits.
    results_page(" again", pressed=False)
    if zip_too:

        def press(part):
            made = jobs.run(lambda: cache.downloads(source, prog, greedy, metrics, None, None, []))[part]
            data = made() if callable(made) else made
            if isinstance(data, (bytes, bytearray)):
                return len(data)
            return sum(len(chunk) for chunk in data)  # a generator: what Streamlit would send

        step("results: ZIP pressed", lambda: press("zip"))
        step("results: report pressed", lambda: press("html"))
    metrics = None  # the page's script run is over
    gc.collect()
    time.sleep(1.0)  # a job's heap is given back on a background thread (when the checkout does that)
    retained = _rss_mb() - idle
    peak = sampler.stop() - idle
    trimmed = None
    try:  # what the C heap keeps of freed memory, given back (glibc): the rest is what is still referenced
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
        trimmed = round(_rss_mb() - idle, 1)
    except (OSError, AttributeError, TypeError):
        pass
    caches = {name: round(one.stats()["bytes"] / 2**20, 1) for name, one in _memos().items() if one.stats()["entries"]}
    from vsep_app.memo import approx_nbytes

    records = round(approx_nbytes([prog.outcome, greedy.outcome]) / 2**20, 1)
    from vsep_core import bss, dsp, field_metrics

    engine_caches = {  # the scoring's own module-level caches, kept between calls
        "bss._CACHE": round(approx_nbytes(list(bss._CACHE.values())) / 2**20, 1),
        "field_metrics._REFERENCE_CACHE": round(
            approx_nbytes(list(field_metrics._REFERENCE_CACHE.values())) / 2**20, 1
        ),
        "dsp.window_sum_square": dsp.window_sum_square.cache_info().currsize,
    }
    return {
        "idle_mb": round(idle, 1),
        "peak_above_idle_mb": round(peak, 1),
        "retained_above_idle_mb": round(retained, 1),
        "retained_after_malloc_trim_mb": trimmed,
        "steps": steps,
        "caches_mb": caches,
        "session_records_mb": records,
        "engine_caches_mb": engine_caches,
    }


def _memos() -> dict:
    from vsep_app import cache
    from vsep_app.memo import Memo

    return {name: value for name, value in vars(cache).items() if isinstance(value, Memo)}


def child(args) -> int:
    out = session(Path(args.mixture), Path(args.vocal), zip_too=not args.no_zip)
    print("JSON " + json.dumps(out), flush=True)
    return 0


def measure(checkout: Path, song: tuple[Path, Path], no_zip: bool, quiet: bool = False) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--root",
        str(checkout),
        "--mixture",
        str(song[0]),
        "--vocal",
        str(song[1]),
    ] + (["--no-zip"] if no_zip else [])
    done = subprocess.run(
        cmd,
        cwd=checkout,
        capture_output=True,
        text=True,
        env={**os.environ, "VSEP_MAX_SEGMENT_S": "360", "PYTHONPATH": str(checkout)},
    )
    if not quiet:
        sys.stdout.write("".join(line + "\n" for line in done.stdout.splitlines() if not line.startswith("JSON ")))
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the session failed in {checkout}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("JSON "))
    return json.loads(line[5:])


def _side_by_side(results: dict) -> None:
    """Each step's seconds and RSS above idle, every checkout in a column."""
    labels = list(results)
    names = list(dict.fromkeys(name for r in results.values() for name in r["steps"]))
    print(f"\n{'after step':<34}" + "".join(f"{label:>30}" for label in labels))
    for name in names:
        cells = []
        for label in labels:
            one = results[label]["steps"].get(name)
            cells.append(f"{one['s']:7.2f} s {one['rss_above_idle_mb']:7.0f} MB" if one else "-")
        print(f"  {name:<32}" + "".join(f"{cell:>30}" for cell in cells))
    for key, title in (
        ("peak_above_idle_mb", "peak above idle"),
        ("retained_above_idle_mb", "retained above idle"),
        ("retained_after_malloc_trim_mb", "retained after malloc_trim(0)"),
        ("session_records_mb", "the session's records"),
    ):
        print(f"  {title:<32}" + "".join(f"{str(results[label][key]) + ' MB':>30}" for label in labels))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--compare",
        metavar="CHECKOUT",
        action="append",
        default=[],
        help="also measure this (older) checkout, same song",
    )
    parser.add_argument("--no-zip", action="store_true", help="skip pressing the ZIP and report buttons")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--json-only", action="store_true", help="print only the figures, as one JSON line")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--mixture", help=argparse.SUPPRESS)
    parser.add_argument("--vocal", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.root)
        return child(args)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from browser_bench import make_long_pair

    load_before = os.getloadavg()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        song = make_long_pair(Path(tmp), args.seconds)
        checkouts = {"this checkout": REPO} | {Path(c).resolve().name: Path(c).resolve() for c in args.compare}
        for label, checkout in checkouts.items():
            if not args.json_only:
                print(f"{label} ({checkout}):", flush=True)
            results[label] = measure(checkout, song, args.no_zip, quiet=args.json_only)
    if args.json_only:
        print(json.dumps(results))
        return 0
    print(
        f"\n{args.seconds:.0f} s song, run both (N = 18), every score, players, spectrograms, EQ, Results again"
        + ("" if args.no_zip else ", ZIP and report")
        + f" — target: under {TARGET_MB:.0f} MB above idle"
    )
    _side_by_side(results)
    for label, r in results.items():
        print(f"  caches kept ({label}): {r['caches_mb']}")
        print(f"  the scoring's own caches ({label}): {r.get('engine_caches_mb')}")
    print(f"load average before {load_before}, after {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
