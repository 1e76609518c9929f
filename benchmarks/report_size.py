"""The HTML report's size for a 20-second 44.1 kHz stereo song, without and with its full-quality audio (issue #21).

The size rule (``tests/test_browser_report.py``): under 3 MB for a 20-second song. The song is the full-quality
tests' made-up stereo song (``tests/stereo_support.py``), 20 s; 8 slices; scored with irm, ibm and the mixture; the
lowest-loss run made at full quality (:func:`vsep_core.api.full_quality`). Prints both sizes and their players.

    .venv/bin/python benchmarks/report_size.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from stereo_support import stereo_pair  # noqa: E402

from vsep_core import api  # noqa: E402
from vsep_core.audio import prepare_pair  # noqa: E402
from vsep_core.evaluate import evaluate_experiment  # noqa: E402
from vsep_core.experiment import run_experiment  # noqa: E402
from vsep_core.full_quality import FullQualityRun  # noqa: E402
from vsep_core.report import html_report  # noqa: E402
from vsep_core.settings import Settings  # noqa: E402


def main() -> int:
    mixture, vocal, _ = stereo_pair(seconds=20.0)
    settings = Settings(duration_s=None)
    pair = prepare_pair(mixture, vocal=vocal, settings=settings, keep_audio=True)
    truth = prepare_pair(mixture, vocal=vocal, settings=settings.replace(level="as_is"))
    result = run_experiment(pair, settings, max_slices=8, keep_audio=True)
    metrics = evaluate_experiment(result, truth, methods=["irm", "ibm", "mixture"])
    best = result.best_progressive
    est = api.full_quality(mixture, pair, settings, slices=best.slices, target=vocal)
    run = FullQualityRun(
        label=str(best.n),
        sr=est.estimate.sr,
        channels=est.estimate.channels,
        scores=est.scores,
        slices=best.slices,
        target=est.estimate.frames(),
        complement=np.ascontiguousarray(est.estimate.complement_raw.T),
    )
    t0 = time.perf_counter()
    without = html_report(result, pair, metrics=metrics).encode()
    t1 = time.perf_counter()
    with_full = html_report(result, pair, metrics=metrics, full_quality=[run]).encode()
    t2 = time.perf_counter()
    print(f"20.0 s song, 44100 Hz stereo, 8 slices (analysed at {pair.sr} Hz mono)")
    print(f"{'':26}{'size':>10}{'players':>9}{'made in':>9}")
    for name, page, seconds in (("without full quality", without, t1 - t0), ("with full quality", with_full, t2 - t1)):
        print(f"{name:26}{len(page) / 1e6:>8.2f} MB{page.count(b'<audio'):>9}{seconds:>8.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
