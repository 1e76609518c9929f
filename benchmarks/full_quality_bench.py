"""Full-quality output (issue #21): its cost beside the analysis-rate audio it sits next to.

The song users bring is 44.1 kHz stereo; the project has no such song with its stems, so this makes one from
the evaluation pair (real speech over real Brahms, 22.05 kHz mono): both stems resampled to 44.1 kHz with soxr
and placed in a stereo image (vocal 0.9 left / 0.6 right, instrumental 0.7 / 1.0), written as FLAC. Its top
octave is empty (the sources are 22.05 kHz), which changes no cost: the work is an STFT of every sample.

For one segment length at a time it prints, side by side, per run (N = 8 slices, as the dashboard's default):

* analysis rate: the run's inverse STFT (``vocal_from_db``) and its scoring (``evaluate_estimate``, mono);
* full quality: reading the run's EQ (its passes again), decoding the segment of the FLAC, the EQ applied to both
  channels and inverse-transformed (``api.full_quality`` without a target), and its scoring (both channels).

    .venv/bin/python benchmarks/full_quality_bench.py [--repeat 3] [--eval ../shared/eval/speech_brahms_16s]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vsep_core import api  # noqa: E402
from vsep_core.analysis import analyse  # noqa: E402
from vsep_core.audio import prepare_pair, to_true_scale  # noqa: E402
from vsep_core.full_quality import decode_segment, score_full_quality, target_at_rate  # noqa: E402
from vsep_core.metrics import evaluate_estimate  # noqa: E402
from vsep_core.optimise import run_chain  # noqa: E402
from vsep_core.reconstruct import vocal_from_db  # noqa: E402
from vsep_core.settings import Settings  # noqa: E402
from vsep_core.views import RAW, SLICE_NAMES  # noqa: E402

EVAL = REPO.parent / "shared" / "eval" / "speech_brahms_16s"


def stereo_song(folder: Path) -> tuple[bytes, bytes]:
    import soxr

    voc, sr = sf.read(folder / "vocal.wav", dtype="float32")
    inst, _ = sf.read(folder / "instrumental.wav", dtype="float32")
    voc, inst = (soxr.resample(x, sr, 44100, quality="soxr_hq") for x in (voc, inst))
    vocal = np.stack([0.9 * voc, 0.6 * voc], axis=1)
    mixture = vocal + np.stack([0.7 * inst, 1.0 * inst], axis=1)
    out = []
    for x in (mixture, vocal):
        buf = io.BytesIO()
        sf.write(buf, x, 44100, format="FLAC", subtype="PCM_24")
        out.append(buf.getvalue())
    return out[0], out[1]


def median_s(work, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def measure(mixture: bytes, vocal: bytes, duration: float, repeat: int) -> None:
    slices = tuple(SLICE_NAMES[:8])
    settings = Settings(duration_s=duration)
    pair = prepare_pair(mixture, vocal=vocal, settings=settings)
    truth = prepare_pair(mixture, vocal=vocal, settings=settings.replace(level="as_is"))
    analysis = analyse(pair, settings, views=(RAW, *slices))
    chain = run_chain(analysis, slices)
    recon_s, vocal_raw = median_s(lambda: vocal_from_db(chain.final_db, analysis), repeat)
    est = to_true_scale(vocal_raw, pair)
    score_s, found = median_s(
        lambda: evaluate_estimate(
            truth.vocal, truth.mixture - truth.vocal, est, truth.mixture[: len(est)] - est, truth.sr
        ),
        repeat,
    )
    eq_s, _ = median_s(lambda: api.seed_eq(analysis, slices), repeat)
    full_s, full = median_s(lambda: api.full_quality(mixture, pair, settings, slices=slices, analysis=analysis), repeat)
    reference = target_at_rate(decode_segment(vocal, settings, name="vocal"), full.estimate, settings)
    fscore_s, fscores = median_s(lambda: score_full_quality(full.estimate, reference), repeat)
    print(f"\n{duration:g} s segment")
    print(f"  {'':36}{'analysis rate (22050 Hz mono)':>31}{'full quality (44100 Hz stereo)':>33}")
    print(f"  {'make the audio (s)':36}{recon_s:>31.3f}{full_s:>33.3f}   (of which the EQ read: {eq_s:.3f})")
    print(f"  {'score it (s)':36}{score_s:>31.3f}{fscore_s:>33.3f}")
    print(
        f"  {'vocal SI-SDR / SDR (dB)':36}{found['vocal']['si_sdr']:>23.2f} / {found['vocal']['sdr']:5.2f}"
        f"{fscores['vocal']['si_sdr']:>25.2f} / {fscores['vocal']['sdr']:5.2f}"
    )
    print(f"  {'ratio full / analysis (make, score)':36}{full_s / recon_s:>30.1f}×{fscore_s / score_s:>32.1f}×")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--eval", type=Path, default=EVAL, help="the 16 s evaluation pair's folder (%(default)s)")
    args = parser.parse_args()
    mixture, vocal = stereo_song(args.eval)
    print(
        f"song: {args.eval.name} made 44.1 kHz stereo FLAC ({len(mixture) / 1e6:.1f} MB); run N = 8; median of "
        f"{args.repeat}"
    )
    for duration in (4.7, 16.0):
        measure(mixture, vocal, duration, args.repeat)


if __name__ == "__main__":
    main()
