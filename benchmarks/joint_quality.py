"""Vocal SI-SDR of the joint method beside the seed's best entry, the exact 400-band EQ and the IRM.

    .venv/bin/python benchmarks/joint_quality.py [PAIR_DIR ...] [--duration S] [--level as_is]

Each PAIR_DIR holds mixture.wav and vocal.wav (default: the vendored real pair and the bundled
samples). The seed's best entry is the highest SI-SDR over every progressive run N = 1 … 18 and
both greedy results, so the comparison is against the seed method at its best, not its default.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, as the other benchmarks


from vsep_core import baselines
from vsep_core.analysis import analyse
from vsep_core.audio import engine_pair, prepare_pair, to_true_scale
from vsep_core.joint import JointSettings, run_joint
from vsep_core.metrics import fit_length, si_sdr
from vsep_core.optimise import run_chain, run_progressive
from vsep_core.reconstruct import vocal_from_db
from vsep_core.search import greedy_search
from vsep_core.settings import Settings
from vsep_core.views import SLICE_NAMES

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PAIRS = [REPO / "tests" / "data" / "speech_brahms_4.7s", *sorted((REPO / "sample_audio").glob("*/"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="*", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--duration", type=float, default=4.7)
    parser.add_argument("--level", default="as_is")
    parser.add_argument("--steps", type=int, default=JointSettings().steps)
    parser.add_argument("--step-size", type=float, default=JointSettings().step_size)
    args = parser.parse_args()
    settings = Settings(level=args.level, duration_s=args.duration)
    print(f"level {args.level}, {args.duration:g} s, joint: {args.steps} steps of {args.step_size:g} dB, raw view")
    print(
        f"{'pair':28s} {'seed best':>16s} {'exact_eq':>9s} {'joint':>7s} {'irm':>7s} {'joint-best':>10s} "
        f"{'joint s':>8s}"
    )
    gains = []
    for folder in args.pairs:
        if not (folder / "vocal.wav").exists():
            continue
        truth = prepare_pair(
            folder / "mixture.wav", vocal=folder / "vocal.wav", settings=settings.replace(level="as_is")
        )
        pair = engine_pair(truth, settings.level)
        reference = truth.vocal.astype(np.float64)

        def score(vocal_raw) -> float:
            return si_sdr(reference, fit_length(to_true_scale(vocal_raw, pair), truth.n_samples))  # noqa: B023 - used in this iteration only

        analysis = analyse(pair, settings)
        seed = {}
        run_progressive(
            analysis,
            SLICE_NAMES,
            len(SLICE_NAMES),
            on_run=lambda chain, seed=seed, analysis=analysis: seed.__setitem__(
                f"N={len(chain.slices)}", score(vocal_from_db(chain.final_db, analysis))
            ),
        )
        found = greedy_search(analysis)
        for label, slices in (("greedy", found.sequence), ("greedy best prefix", found.best_prefix)):
            seed[label] = score(vocal_from_db(run_chain(analysis, slices).final_db, analysis))
        best_label = max(seed, key=seed.get)
        t0 = time.perf_counter()
        result = run_joint(
            analyse(pair, settings, views=("slice_0_raw",)), JointSettings(steps=args.steps, step_size=args.step_size)
        )
        seconds = time.perf_counter() - t0
        joint_sdr = score(vocal_from_db(result.final_db, analysis))
        oracle = {}
        for name in ("exact_eq", "irm"):
            sep = baselines.run_method(baselines.get_method(name, settings), truth.mixture, truth.sr, truth.vocal)
            oracle[name] = si_sdr(reference, fit_length(sep.vocal, truth.n_samples))
        gains.append(joint_sdr - seed[best_label])
        print(
            f"{folder.name:28s} {seed[best_label]:6.2f} ({best_label[:8]:>8s}) {oracle['exact_eq']:9.2f} "
            f"{joint_sdr:7.2f} {oracle['irm']:7.2f} {joint_sdr - seed[best_label]:+10.2f} {seconds:8.2f}"
        )
    if gains:
        print(f"mean gain of joint over the seed's best entry: {np.mean(gains):+.2f} dB over {len(gains)} pairs")


if __name__ == "__main__":
    main()
