"""Engine benchmark: the research script's workload, timed, with ratios to the original.

    .venv/bin/python benchmarks/bench_engine.py            # all three cases
    .venv/bin/python benchmarks/bench_engine.py --repeat 3 --skip-long

Cases (issue #2):
  (a) 8 slices on the 4.7 s pair: progressive 1–8, greedy search, greedy result,
      every output written (WAVs, plots, summary.json). Original: 98 s.
  (b) the same with 18 slices. Original: 654 s.
  (c) a 3-minute input, 18 slices, progressive and greedy, outputs written;
      run in a fresh process so its peak memory (ru_maxrss) is its own.

"Compute" is in-process after one warm-up run (imports and librosa's lazy
loading excluded); the cold CLI wall time, which includes them, is printed too.
The 4.7 s pair is ../shared/eval/speech_brahms_4.7s when present, otherwise the
bundled sample; the 3-minute input tiles ../shared/eval/speech_brahms_16s (or
the bundled sample).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vsep_core.audio import Pair, prepare_pair  # noqa: E402
from vsep_core.experiment import run_experiment  # noqa: E402
from vsep_core.report import Outputs  # noqa: E402
from vsep_core.settings import Settings  # noqa: E402

SHARED_EVAL = REPO.parent / "shared" / "eval"
ORIGINAL_S = {8: 98.0, 18: 654.0}
TARGET_S = {8: 0.5, 18: 1.0, "long": 10.0}
LONG_TARGET_MB = 1500


def short_pair_paths():
    shared = SHARED_EVAL / "speech_brahms_4.7s"
    if (shared / "mixture.wav").exists():
        return shared / "mixture.wav", shared / "vocal.wav", "../shared/eval/speech_brahms_4.7s"
    pairs = json.loads((REPO / "sample_audio" / "pairs.json").read_text())
    folder = (
        REPO / "sample_audio" / pairs["pairs"][0]["folder"]
        if isinstance(pairs, dict)
        else REPO / "sample_audio" / pairs[0]["folder"]
    )
    return folder / "mixture.wav", folder / "vocal.wav", f"sample_audio/{folder.name}"


def workload(pair: Pair, settings: Settings, n_slices: int, out_dir: Path) -> dict:
    """Everything the research script did, into ``out_dir``; returns the timings."""
    t0 = time.perf_counter()
    outputs = Outputs(pair, settings, n_slices, out_dir=out_dir)
    result = run_experiment(pair, settings, max_slices=n_slices, greedy=True, keep_audio=False, on_run=outputs.add_run)
    t1 = time.perf_counter()
    outputs.finish(result)
    t2 = time.perf_counter()
    return {"total": t2 - t0, "outputs": t2 - t1, **result.timings_s}


def time_short(n_slices: int, repeat: int) -> dict:
    mix, voc, label = short_pair_paths()
    settings = Settings(level="as_is")
    pair = prepare_pair(mix, vocal=voc, settings=settings)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        workload(pair, settings, n_slices, Path(tmp) / "warmup")
        for i in range(repeat):
            runs.append(workload(pair, settings, n_slices, Path(tmp) / f"run{i}"))
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "vsep_core",
                "run",
                "--mixture",
                str(mix),
                "--vocal",
                str(voc),
                "--slices",
                str(n_slices),
                "--greedy",
                "--level",
                "as-is",
                "--out",
                tmp,
                "--quiet",
            ],
            check=True,
            cwd=REPO,
        )
        cold = time.perf_counter() - t
    return {"pair": label, "median": median, "cold_cli_s": cold}


def long_pair(seconds: float = 180.0) -> Pair:
    import soundfile as sf

    src = SHARED_EVAL / "speech_brahms_16s"
    if (src / "mixture.wav").exists():
        mix, sr = sf.read(src / "mixture.wav", dtype="float32")
        voc, _ = sf.read(src / "vocal.wav", dtype="float32")
    else:
        mix_path, voc_path, _ = short_pair_paths()
        mix, sr = sf.read(mix_path, dtype="float32")
        voc, _ = sf.read(voc_path, dtype="float32")
    reps = int(np.ceil(seconds * sr / len(mix)))
    n = int(seconds * sr)
    return Pair(mixture=np.tile(mix, reps)[:n], vocal=np.tile(voc, reps)[:n], sr=sr, info={"mixture": "tiled"})


def run_long() -> dict:
    """Case (c), meant to run in its own process (see ``--case long``)."""
    settings = Settings(duration_s=None)
    pair = long_pair()
    with tempfile.TemporaryDirectory() as tmp:
        workload(long_pair(5.0), settings, 2, Path(tmp) / "warmup")  # imports and lazy loading, not timed
        timings = workload(pair, settings, 18, Path(tmp) / "run")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": pair.duration_s,
        "windows": 1 + pair.n_samples // settings.hop_length,
        "timings": timings,
        "peak_rss_mb": peak_mb,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per short case (median reported)")
    parser.add_argument("--skip-long", action="store_true", help="skip case (c)")
    parser.add_argument("--case", choices=["long"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "long":
        print(json.dumps(run_long()))
        return 0

    print(
        f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    ok = True
    for n, case in ((8, "a"), (18, "b")):
        res = time_short(n, args.repeat)
        m = res["median"]
        ratio = ORIGINAL_S[n] / m["total"]
        ok &= m["total"] < TARGET_S[n]
        print(f"\n({case}) {n} slices, {res['pair']}, median of {args.repeat} warm runs")
        print("    " + "  ".join(f"{k} {v:.3f}s" for k, v in m.items()))
        print(
            f"    compute {m['total']:.3f} s  (target < {TARGET_S[n]} s: {'met' if m['total'] < TARGET_S[n] else 'MISSED'})"
            f"   original {ORIGINAL_S[n]:.0f} s → {ratio:,.0f}× faster"
        )
        print(
            f"    cold CLI wall time (new process, imports included): {res['cold_cli_s']:.2f} s "
            f"→ {ORIGINAL_S[n] / res['cold_cli_s']:,.0f}× faster"
        )
    if not args.skip_long:
        proc = subprocess.run(
            [sys.executable, __file__, "--case", "long"], capture_output=True, text=True, check=True, cwd=REPO
        )
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        t = res["timings"]
        search = t["analyse"] + t["progressive"] + t["greedy"]
        met = search < TARGET_S["long"] and res["peak_rss_mb"] < LONG_TARGET_MB
        ok &= met
        print(f"\n(c) {res['seconds']:.0f} s input ({res['windows']} windows), 18 slices, progressive + greedy")
        print("    " + "  ".join(f"{k} {v:.2f}s" for k, v in t.items()))
        print(
            f"    search (analyse + progressive + greedy) {search:.2f} s (target < {TARGET_S['long']:.0f} s); "
            f"with all 40 WAVs and plots written {t['total']:.2f} s"
        )
        print(
            f"    peak memory {res['peak_rss_mb']:.0f} MB (target < {LONG_TARGET_MB} MB): {'met' if met else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
