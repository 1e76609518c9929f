"""Vocal SI-SDR of the blind learned_fingerprint method beside the oracle methods and the other blind ones.

    .venv/bin/python benchmarks/learned_quality.py [--songs 12] [--seed 9000] [--model MODEL] [PAIR_DIR ...]

Two kinds of segments the model never saw:

* ``--songs`` new songs from the bundled generator, drawn from ``--seed`` (the bundled model was trained
  on seed 2026; any other seed gives other songs), each scored on its first 4.7 s;
* real recordings given as PAIR_DIRs (mixture.wav + vocal.wav; default the vendored speech-over-Brahms
  pair, which no part of the project made and which the model never trains on).

Every method is scored by :func:`vsep_core.evaluate.evaluate_pair` (the ``evaluate`` command's loop) at the
pair's true level, SI-SDR in dB. Prints one row per segment and, for the generated songs, the median.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, as the other benchmarks

import soundfile as sf

from vsep_core.baselines import resolve_methods
from vsep_core.evaluate import evaluate_pair, load_pair
from vsep_core.learned import LearnedFingerprint
from vsep_core.learned_songs import random_song_spec, synthesise
from vsep_core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
METHODS = (
    "learned_fingerprint",
    "seed_progressive",
    "joint",
    "exact_eq",
    "irm",
    "ibm",
    "wiener",
    "repet_sim",
    "hpss",
    "mixture",
)


def scores(mixture_path: Path, vocal_path: Path, settings: Settings, model: str | None) -> dict:
    pair = load_pair(mixture_path, vocal=vocal_path, settings=settings)
    methods = [
        LearnedFingerprint(settings, model_path=model) if name == "learned_fingerprint" else m
        for name, m in zip(METHODS, resolve_methods(list(METHODS), settings))
    ]
    report = evaluate_pair(pair, methods, settings=settings)
    return {m["name"]: m["vocal"]["si_sdr"] for m in report["methods"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="*", type=Path, default=[REPO / "tests" / "data" / "speech_brahms_4.7s"])
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=9000)
    parser.add_argument("--model", default=None, help="a model file (default: the bundled one)")
    args = parser.parse_args()
    settings = Settings(level="as_is")
    head = f"{'segment':26s}" + "".join(f"{name[:11]:>12s}" for name in METHODS)
    print("vocal SI-SDR (dB), first 4.7 s, level as_is\n" + head)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.songs):
            spec = random_song_spec(args.seed, i)
            mixture, vocal, sr = synthesise(spec)
            m, v = Path(tmp) / f"{i}_mixture.wav", Path(tmp) / f"{i}_vocal.wav"
            sf.write(m, mixture, sr, subtype="FLOAT")
            sf.write(v, vocal, sr, subtype="FLOAT")
            row = scores(m, v, settings, args.model)
            rows.append(row)
            print(f"{spec['folder']:26s}" + "".join(f"{row[name]:12.2f}" for name in METHODS), flush=True)
    if rows:
        print(f"{'median (generated)':26s}" + "".join(f"{np.median([r[n] for r in rows]):12.2f}" for n in METHODS))
        print(f"{'min (generated)':26s}" + "".join(f"{np.min([r[n] for r in rows]):12.2f}" for n in METHODS))
    for folder in args.pairs:
        row = scores(folder / "mixture.wav", folder / "vocal.wav", settings, args.model)
        print(f"{folder.name[:26]:26s}" + "".join(f"{row[name]:12.2f}" for name in METHODS), flush=True)


if __name__ == "__main__":
    main()
