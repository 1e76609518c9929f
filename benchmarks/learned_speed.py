"""Speed and size of the blind learned_fingerprint method (issue #23), beside the other blind methods.

    .venv/bin/python benchmarks/learned_speed.py [--train-songs 10] [--epochs 5] [--repeats 3]

* **Training**: :func:`vsep_core.learned.train` on ``--train-songs`` new generated songs (features in this
  process, then ``--epochs`` epochs of the default network), timed in two parts (features, fitting).
  The bundled model's own training time is what its command printed (BENCHMARKS.md).
* **Model size**: the bundled model file's bytes and its number of weights.
* **Prediction**: for a 4.7 s and a 3-minute mixture, the fingerprint prediction alone (STFT, features,
  network) and the whole method (prediction, the joint round trip toward it, the inverse STFT), beside
  the two-stage HPSS and REPET-SIM on the same mixture in the same run (best of ``--repeats``). The
  mixture is real music: the speech-over-Brahms pair (``../shared/eval/speech_brahms_16s`` when present,
  else the vendored 4.7 s) repeated to 180 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, as the other benchmarks

from vsep_core.baselines import get_method
from vsep_core.evaluate import load_pair
from vsep_core.learned import BUNDLED_MODEL, ModelConfig, load_model, predicted_fingerprints, train
from vsep_core.learned_songs import generated_songs
from vsep_core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
LONG_PAIR = REPO.parent / "shared" / "eval" / "speech_brahms_16s"
SHORT_PAIR = REPO / "tests" / "data" / "speech_brahms_4.7s"


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-songs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {open('/proc/loadavg').read().strip()}")

    songs = generated_songs(args.train_songs, 31337)
    t0 = time.perf_counter()
    from vsep_core.learned import extract_features

    extract_features(songs, "vocals", Settings(), ModelConfig(), n_workers=0)
    features_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = train(songs, config=ModelConfig(epochs=args.epochs), n_workers=0)
    total_s = time.perf_counter() - t0
    windows = model.header["training"]["train_windows"] + model.header["training"]["validation_windows"]
    print(
        f"training on {args.train_songs} generated songs ({windows} windows): features {features_s:.1f} s "
        f"(one process), {args.epochs} epochs {total_s - features_s:.1f} s "
        f"({(total_s - features_s) / args.epochs:.2f} s per epoch)"
    )

    bundled = load_model(BUNDLED_MODEL)
    n_weights = sum(a.size for name, a in bundled.arrays.items() if name.startswith(("w", "b")))
    print(
        f"bundled model: {BUNDLED_MODEL.stat().st_size / 1024:.0f} KB on disk, {n_weights} weights, trained on "
        f"{bundled.header['training']['songs']} songs"
    )

    settings = Settings(level="as_is", duration_s=None)
    source = LONG_PAIR if (LONG_PAIR / "mixture.wav").exists() else SHORT_PAIR
    real = load_pair(source / "mixture.wav", vocal=source / "vocal.wav", settings=settings).mixture
    long_mix = np.tile(real, int(np.ceil(180 * 22050 / len(real))))[: 180 * 22050]
    short_mix = real[:103_635]
    methods = {name: get_method(name, Settings(level="as_is")) for name in ("learned_fingerprint", "hpss", "repet_sim")}
    print(f"mixtures: {source.name} (real music), the first 4.7 s and repeated to 180 s; best of {args.repeats}")
    print(f"{'':34s} {'4.7 s':>9s} {'3 min':>9s}")
    for label, fn in [
        ("predicted fingerprint only", lambda y: predicted_fingerprints(y, Settings())),
        *[(f"{name} (whole method)", lambda y, m=m: m.separate(y, 22050)) for name, m in methods.items()],
    ]:
        fn(short_mix)  # warm-up: imports, compiled loops, the model's first load
        cells = [best_of(args.repeats, lambda y=y, fn=fn: fn(y)) for y in (short_mix, long_mix)]
        print(f"{label:34s} {cells[0]:8.3f}s {cells[1]:8.2f}s", flush=True)
    print(f"load average after: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
