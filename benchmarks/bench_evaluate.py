"""Evaluation benchmark (issue #11): every method and its scores on a 3-minute song.

    .venv/bin/python benchmarks/bench_evaluate.py              # the current engine
    .venv/bin/python benchmarks/bench_evaluate.py --before     # also the old paths, with ratios
    .venv/bin/python benchmarks/bench_evaluate.py --cli        # also the cold CLI, start-up included

Each mode runs in a fresh process, so its peak memory (ru_maxrss) is its own. The loop
is the evaluation's own (``run_method`` then ``evaluate_estimate`` for every method of
``all``, whole file, level as is), timed in two parts: the method ("separate") and its
scoring ("score": SI-SDR and BSS Eval). The 3-minute pair tiles
../shared/eval/speech_brahms_16s (or the first bundled sample) and is written as WAV so
the CLI reads the same samples.

``--before`` swaps in the paths this engine replaced, inside the benchmark only:
museval's ``bss_eval`` for :func:`vsep_core.bss.bss_eval_images`, librosa's
``nn_filter`` for REPET-SIM's background and librosa's ``hpss`` for HPSS's masks. The
figures of both modes are compared (largest difference in dB, figures above 150 dB —
ratios to rounding noise, e.g. the mixture's SAR — left out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

START = time.perf_counter()

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED_EVAL = REPO.parent / "shared" / "eval"

#: Issue #11's targets for `evaluate` on a 3-minute song.
TARGET_WALL_S = 30.0
TARGET_RSS_MB = 2000.0
#: Figures above this are ratios to rounding noise; they are not compared.
ROUNDING_DB = 150.0


def write_long_pair(folder: Path, seconds: float) -> tuple[Path, Path, str]:
    """A deterministic long pair: a real or bundled pair tiled to ``seconds``."""
    import soundfile as sf

    src = SHARED_EVAL / "speech_brahms_16s"
    if (src / "mixture.wav").exists():
        mix_path, voc_path, label = src / "mixture.wav", src / "vocal.wav", "../shared/eval/speech_brahms_16s"
    else:
        pairs = json.loads((REPO / "sample_audio" / "pairs.json").read_text())
        entry = (pairs["pairs"] if isinstance(pairs, dict) else pairs)[0]
        mix_path = REPO / "sample_audio" / entry["folder"] / "mixture.wav"
        voc_path = REPO / "sample_audio" / entry["folder"] / "vocal.wav"
        label = f"sample_audio/{entry['folder']}"
    mix, sr = sf.read(mix_path, dtype="float32")
    voc, _ = sf.read(voc_path, dtype="float32")
    n = int(seconds * sr)
    reps = math.ceil(n / len(mix))
    out_mix, out_voc = folder / "mixture.wav", folder / "vocal.wav"
    sf.write(out_mix, np.tile(mix, reps)[:n], sr, subtype="FLOAT")
    sf.write(out_voc, np.tile(voc, reps)[:n], sr, subtype="FLOAT")
    return out_mix, out_voc, f"{label} tiled to {seconds:.0f} s"


def use_old_paths() -> None:
    """Put back the paths the engine replaced (museval, librosa's nn_filter and hpss)."""
    import librosa

    from vsep_core import bss
    from vsep_core.metrics import _museval_metrics
    from vsep_core.separators import hpss, repet_sim

    museval = _museval_metrics()

    def museval_bss_eval_images(
        references, estimates, *, window, hop=None, filters_len=512, filters="global", cache=True
    ):  # bss.bss_eval_images's signature (nothing to cache here)
        sdr, isr, sir, sar, _ = museval.bss_eval(
            np.asarray(references)[:, :, None],
            np.asarray(estimates)[:, :, None],
            window=window,
            hop=window if hop is None else hop,
            compute_permutation=False,
            filters_len=filters_len,
            framewise_filters=filters == "framewise",
            bsseval_sources_version=False,
        )
        return sdr, isr, sir, sar

    bss.bss_eval_images = museval_bss_eval_images
    # The separators look these up in their own modules when they run (RepetSim.separate, TwoStageHPSS.separate
    # and PercussiveHPSS.separate), so replacing the modules' names swaps the path.
    repet_sim._repet_background = lambda mag, width: librosa.decompose.nn_filter(
        mag, aggregate=np.median, metric="cosine", width=width
    )
    hpss.hpss_masks = lambda mag, kernel_size: librosa.decompose.hpss(mag, kernel_size=kernel_size, mask=True)


def child_loop(mixture: Path, vocal: Path, mode: str, workers: int = 1) -> dict:
    """Every method then its scores, timed separately (runs in its own process)."""
    if mode == "before":
        use_old_paths()
    from vsep_core.baselines import resolve_methods, run_method
    from vsep_core.evaluate import load_pair
    from vsep_core.metrics import evaluate_estimate
    from vsep_core.settings import Settings

    imported = time.perf_counter()
    settings = Settings(level="as_is", duration_s=None)
    pair = load_pair(mixture, vocal=vocal, settings=settings)
    vocal_ref = pair.vocal.astype(np.float64)
    instrumental_ref = pair.mixture.astype(np.float64) - vocal_ref
    loop_start = time.perf_counter()
    loop_cpu = time.process_time()

    def one(method) -> dict:
        # CPU seconds are the process's (all threads): with --workers > 1 they overlap between methods.
        t0, c0 = time.perf_counter(), time.process_time()
        sep = run_method(method, pair.mixture, pair.sr, None if method.kind == "blind" else pair.vocal)
        t1, c1 = time.perf_counter(), time.process_time()
        scores = evaluate_estimate(vocal_ref, instrumental_ref, sep.vocal, sep.instrumental, pair.sr)
        t2, c2 = time.perf_counter(), time.process_time()
        return {
            "name": method.name,
            "separate_s": t1 - t0,
            "score_s": t2 - t1,
            "separate_cpu_s": c1 - c0,
            "score_cpu_s": c2 - c1,
            "scores": scores,
        }

    methods = resolve_methods(["all"], settings)
    if workers == 1:
        rows = [one(method) for method in methods]
    else:  # methods in parallel threads (numpy, FFTs, BLAS and the compiled loops release the GIL)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(one, methods))
    done = time.perf_counter()
    return {
        "mode": mode,
        "workers": workers,
        "duration_s": pair.duration_s,
        "rows": rows,
        "import_s": imported - START,
        "load_s": loop_start - imported,
        "loop_s": done - loop_start,
        "process_s": done - START,
        "loop_cpu_s": time.process_time() - loop_cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_cli(mixture: Path, vocal: Path, mode: str, out_json: Path) -> dict:
    """The real CLI, in this fresh process (old paths patched in first for ``before``)."""
    if mode == "before":
        use_old_paths()
    from vsep_core.cli import main

    help_text = subprocess.run(
        [sys.executable, "-m", "vsep_core", "evaluate", "--help"], cwd=REPO, capture_output=True, text=True
    ).stdout
    whole = ["--full-length"] if "--full-length" in help_text else ["--duration", "all"]
    argv = [
        "evaluate",
        "--mixture",
        str(mixture),
        "--vocal",
        str(vocal),
        *whole,
        "--methods",
        "all",
        "--json",
        str(out_json),
    ]
    code = main(argv)
    done = time.perf_counter()
    return {
        "mode": mode,
        "exit_code": code,
        "process_s": done - START,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(args: list[str]) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *args], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed ({' '.join(args)}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    return result


def largest_difference(after: dict, before: dict) -> float:
    worst = 0.0
    for row_a, row_b in zip(after["rows"], before["rows"]):
        for source in ("vocal", "instrumental"):
            for metric, a in row_a["scores"][source].items():
                b = row_b["scores"][source][metric]
                if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)):
                    continue
                if abs(a) >= ROUNDING_DB or abs(b) >= ROUNDING_DB:
                    continue
                worst = max(worst, abs(a - b))
    return worst


def ratio(before: float, after: float) -> str:
    return f"{before / after:6.1f}x" if after > 0 else "    -"


def report(results: dict[str, dict], source: str) -> None:
    after, before = results["after"], results.get("before")
    print(f"Pair: {source}; {after['duration_s']:.1f} s; methods: all; BSS Eval v4 images, 1 s frames")
    print(
        f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end "
        "(wall times on a shared machine vary with the load; CPU seconds, all threads, much less)"
    )
    head = f"{'method':18s} {'separate':>15s} {'score':>15s}"
    if before:
        head += f" | {'before: separate':>16s} {'score':>15s} | {'ratio (CPU) sep':>15s} {'score':>6s}"
    print(
        head
        + "\n"
        + " " * 19
        + "wall s / CPU s"
        + "   wall s / CPU s"
        + (" |" + " " * 18 + "wall / CPU" + "    wall / CPU |" if before else "")
    )
    for i, row in enumerate(after["rows"]):
        line = (
            f"{row['name']:18s} {row['separate_s']:6.2f} / {row['separate_cpu_s']:6.2f}"
            f" {row['score_s']:6.2f} / {row['score_cpu_s']:6.2f}"
        )
        if before:
            old = before["rows"][i]
            line += (
                f" | {old['separate_s']:7.2f} / {old['separate_cpu_s']:6.2f} {old['score_s']:6.2f} / "
                f"{old['score_cpu_s']:6.2f} | {ratio(old['separate_cpu_s'], row['separate_cpu_s']):>15s} "
                f"{ratio(old['score_cpu_s'], row['score_cpu_s'])}"
            )
        print(line)
    for label, r in (("after", after), ("before", before)):
        if r is None:
            continue
        sep = sum(row["separate_s"] for row in r["rows"])
        score = sum(row["score_s"] for row in r["rows"])
        print(
            f"{label:6s}: separate {sep:6.1f} s + score {score:6.1f} s = loop {r['loop_s']:6.1f} s wall, "
            f"{r['loop_cpu_s']:6.1f} s CPU; imports {r['import_s']:.1f} s, load {r['load_s']:.1f} s; "
            f"process wall {r['wall_s']:.1f} s; peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    if "parallel" in results:
        r = results["parallel"]
        print(
            f"after, methods in {r['workers']} threads: loop {r['loop_s']:6.1f} s wall, "
            f"{r['loop_cpu_s']:6.1f} s CPU; process wall {r['wall_s']:.1f} s; peak RSS {r['peak_rss_mb']:.0f} MB; largest figure difference "
            f"from the serial loop {largest_difference(r, after):.2g} dB"
        )
    if before:
        print(
            f"loop ratio before/after: {before['loop_s'] / after['loop_s']:.1f}x wall, "
            f"{before['loop_cpu_s'] / after['loop_cpu_s']:.1f}x CPU; largest figure difference "
            f"{largest_difference(after, before):.2g} dB (figures above {ROUNDING_DB:.0f} dB left out)"
        )
    for label in ("cli_after", "cli_before"):
        if label in results:
            r = results[label]
            print(
                f"CLI ({label[4:]}): python -m vsep_core evaluate … --methods all, whole file: {r['wall_s']:.1f} s "
                f"wall (start-up included), peak RSS {r['peak_rss_mb']:.0f} MB, exit {r['exit_code']}"
            )
    wall = results.get("cli_after", after)["wall_s"]
    print(
        f"Target (issue #11): < {TARGET_WALL_S:.0f} s and < {TARGET_RSS_MB:.0f} MB -> "
        f"{'met' if wall < TARGET_WALL_S and after['peak_rss_mb'] < TARGET_RSS_MB else 'NOT met'} "
        f"({wall:.1f} s, {after['peak_rss_mb']:.0f} MB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the song (%(default)s)")
    parser.add_argument("--before", action="store_true", help="also run the old paths (museval, librosa)")
    parser.add_argument("--cli", action="store_true", help="also time the CLI in a fresh process")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also run the loop with methods in this many parallel threads (after only)",
    )
    parser.add_argument("--json", metavar="FILE", help="write every figure here")
    parser.add_argument("--child", choices=["loop", "cli"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["after", "before"], default="after", help=argparse.SUPPRESS)
    parser.add_argument("--mixture", help=argparse.SUPPRESS)
    parser.add_argument("--vocal", help=argparse.SUPPRESS)
    parser.add_argument("--out-json", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "loop":
        print(json.dumps(child_loop(Path(args.mixture), Path(args.vocal), args.mode, args.workers)))
        return 0
    if args.child == "cli":
        print(json.dumps(child_cli(Path(args.mixture), Path(args.vocal), args.mode, Path(args.out_json))))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        mixture, vocal, source = write_long_pair(Path(tmp), args.seconds)
        files = ["--mixture", str(mixture), "--vocal", str(vocal)]
        # A short run of every method first compiles numba's cached kernels (the engine's and
        # REPET-SIM's), so no mode pays for compiling; it is a first-install cost, not a per-run one.
        warm_up = (
            "import numpy as np; from vsep_core.baselines import resolve_methods, run_method; "
            "from vsep_core.settings import Settings; s = Settings(level='as_is', duration_s=None); "
            "rng = np.random.default_rng(0); v = rng.standard_normal(6 * 22050).astype(np.float32); "
            "m = (v + rng.standard_normal(6 * 22050)).astype(np.float32); "
            "[run_method(x, m, 22050, None if x.kind == 'blind' else v) for x in resolve_methods(['all'], s)]"
        )
        subprocess.run([sys.executable, "-c", warm_up], cwd=REPO, check=True)
        results = {"after": run_child(["--child", "loop", "--mode", "after", *files])}
        if args.workers > 1:
            results["parallel"] = run_child(
                ["--child", "loop", "--mode", "after", "--workers", str(args.workers), *files]
            )
        if args.before:
            results["before"] = run_child(["--child", "loop", "--mode", "before", *files])
        if args.cli:
            for mode in ("after", "before") if args.before else ("after",):
                results[f"cli_{mode}"] = run_child(
                    ["--child", "cli", "--mode", mode, *files, "--out-json", str(Path(tmp) / f"cli_{mode}.json")]
                )
    report(results, source)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
