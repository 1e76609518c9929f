"""Sharing results by link (issue #20): publish, open, store size, eight publishes at once.

    .venv/bin/python benchmarks/share_bench.py            # the 4.7 s default sample
    .venv/bin/python benchmarks/share_bench.py --song     # also a 180 s song (the samples repeated)

For a result made as the dashboard makes it (N = 1 … 8, the greedy search, the
scores): the time to pack it (:func:`vsep_core.bundle.pack_result`: FLAC,
plot data, the HTML report) and to publish it (files, then the record), on
SQLite and on a PostgreSQL server this script starts; the bytes a result takes
with and without audio; eight publishes at once (eight threads, each its own
Store as eight servers would have); and, in Debian's Chromium on a fresh
``streamlit run serve.py``, the time from opening a link to the title (first
content) and to every score in the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
SAMPLE = REPO / "sample_audio" / "sung_vowels_pop"


def make_result(seconds: float | None, folder: Path):
    """The default sample (or the samples repeated to ``seconds``), N = 1 … 8 and greedy, with its scores."""
    import numpy as np
    import soundfile as sf

    from vsep_core.audio import prepare_pair
    from vsep_core.evaluate import evaluate_experiment, load_pair
    from vsep_core.experiment import run_experiment
    from vsep_core.settings import Settings

    mixture, vocal = SAMPLE / "mixture.wav", SAMPLE / "vocal.wav"
    if seconds is not None:
        m, sr = sf.read(mixture, dtype="float32")
        v, _ = sf.read(vocal, dtype="float32")
        reps = int(np.ceil(seconds * sr / len(m)))
        mixture, vocal = folder / "song_mixture.flac", folder / "song_vocal.flac"
        sf.write(mixture, np.tile(m, reps)[: int(seconds * sr)], sr)
        sf.write(vocal, np.tile(v, reps)[: int(seconds * sr)], sr)
    settings = Settings(duration_s=None if seconds is not None else Settings().duration_s)
    pair = prepare_pair(mixture, vocal=vocal, settings=settings, keep_audio=True)
    result = run_experiment(pair, settings, max_slices=8, greedy=True, keep_audio=True)
    metrics = evaluate_experiment(result, load_pair(mixture, vocal=vocal, settings=settings))
    return result, pair, metrics


def bench_publish(result, pair, metrics, locations: dict, repeats: int = 3) -> dict:
    from vsep_core.bundle import pack_result
    from vsep_core.store import Store

    out = {}
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        files = pack_result(result, pair, title="bench", metrics=metrics)
        t.append(time.perf_counter() - t0)
    out["pack_s"] = statistics.median(t)
    quiet = pack_result(result, pair, title="bench", metrics=metrics, audio=False)
    out["bytes_audio"] = sum(map(len, files.values()))
    out["bytes_no_audio"] = sum(map(len, quiet.values()))
    out["report_bytes"] = len(files["report.html"])
    for name, (where, files_dir) in locations.items():
        store = Store(where, files_dir=files_dir)
        t = []
        for i in range(repeats):
            variant = {**files, "share.json": files["share.json"] + f" {i}".encode()}
            t0 = time.perf_counter()
            store.publish(variant, "bench")
            t.append(time.perf_counter() - t0)
        out[f"publish_{name}_s"] = statistics.median(t)
        out[f"disk_{name}_bytes"] = store.disk_bytes()
        out[f"results_{name}"] = len(store.list())
    return out


def bench_concurrent(files: dict, locations: dict, n: int = 8) -> dict:
    from vsep_core.store import Store

    out = {}
    for name, (where, files_dir) in locations.items():
        stores = [Store(where, files_dir=files_dir) for _ in range(n)]
        barrier, times, errors = threading.Barrier(n), [None] * n, []

        def one(i, stores=stores, barrier=barrier, times=times, errors=errors):
            try:
                # Each session's own result: its audio differs (a different estimate), so nothing is shared.
                mine = {k: (v + bytes([i]) * 64 if k.startswith("audio/") else v) for k, v in files.items()}
                barrier.wait()
                t0 = time.perf_counter()
                stores[i].publish(mine, f"session {i}")
                times[i] = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001 - reported
                errors.append(repr(exc))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        out[name] = {
            "wall_s": time.perf_counter() - t0,
            "slowest_s": max(t for t in times if t is not None),
            "ok": sum(t is not None for t in times),
            "errors": errors,
        }
    return out


def bench_open(files: dict, repeats: int = 3) -> dict:
    from browser_support import Server, block_outside_requests, launch
    from playwright.sync_api import sync_playwright

    from vsep_core.store import Store

    n_methods = len(json.loads(files["metrics.json"])["methods"])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        link = store.publish(files, "Benchmark result").link
        firsts, scores = [], []
        with Server(env={"VSEP_STORE": str(Path(tmp) / "store")}) as server, sync_playwright() as p:
            browser = launch(p)
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                outside = block_outside_requests(context)
                page = context.new_page()
                t0 = time.perf_counter()
                page.goto(server.url + link)
                page.get_by_role("heading", name="Benchmark result").wait_for(timeout=120_000)
                firsts.append(time.perf_counter() - t0)
                page.wait_for_function(
                    f"() => document.querySelectorAll('[data-testid=stDataFrame] [role=row]').length >= {n_methods + 1}",
                    polling=50,
                    timeout=120_000,
                )
                scores.append(time.perf_counter() - t0)
                assert not outside, outside
                context.close()
            browser.close()
    return {"first_content_s": firsts, "every_score_s": scores, "methods": n_methods}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--song", action="store_true", help="also a 180 s song")
    args = parser.parse_args()
    from pg_support import PostgresServer

    print("load average before:", Path("/proc/loadavg").read_text().strip())
    report = {}
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as pg:
        tmp = Path(tmp)
        locations = {"sqlite": (str(tmp / "sqlite"), None), "postgresql": (pg.new_database(), str(tmp / "pgfiles"))}
        cases = [("4.7 s", None)] + ([("180 s", 180.0)] if args.song else [])
        for label, seconds in cases:
            t0 = time.perf_counter()
            result, pair, metrics = make_result(seconds, tmp)
            print(f"{label}: result made in {time.perf_counter() - t0:.1f} s")
            report[label] = bench_publish(result, pair, metrics, locations)
            print(label, json.dumps(report[label], indent=1))
            if seconds is None:
                from vsep_core.bundle import pack_result

                files = pack_result(result, pair, title="bench", metrics=metrics)
                c_locations = {
                    "sqlite": (str(tmp / "sqlite8"), None),
                    "postgresql": (pg.new_database(), str(tmp / "pgfiles8")),
                }
                report["8 at once"] = bench_concurrent(files, c_locations)
                print("8 at once", json.dumps(report["8 at once"], indent=1))
                report["open"] = bench_open(files)
                print("open", json.dumps(report["open"], indent=1))
    print("load average after:", Path("/proc/loadavg").read_text().strip())


if __name__ == "__main__":
    main()
