"""Import and first-use work for the later pages, done once per server on a background thread.

The first page a visitor sees (the bundled sample loaded, players, waveform,
alignment check) needs neither the slice views (scipy.ndimage), the
optimiser's compiled kernels (numba), librosa's STFT nor plotly's figure
classes; importing and first calling them takes a few seconds here. So the
first page does not import them, and this work runs on a thread once that
page is drawn: by the time the Slices or Optimise page asks for a
spectrogram, a run or a chart, it is done (or under way, and the page waits
only for the rest). Plain functions: :func:`start_once` starts it
once per server.
"""

from __future__ import annotations

import threading
import time

from .memo import memo

#: Seconds between the warm-up of the Optimise and Slices pages and that of the Results page.
LATER_S = 5.0


def warm_up_engine() -> None:
    """Import the DSP libraries and call every stage once on a tiny synthetic pair.

    numba loads each compiled kernel (from its on-disk cache) at its first call,
    and plotly imports each trace type's validators the first time one is built;
    a tiny pair run through the engine (:func:`vsep_core.experiment.warm_up`) and a few
    figures pay all of that here.
    First what a run on the Optimise page needs (the likeliest next click), then
    the Slices page's views, then the Results page and uploads at other rates.
    """
    import numpy as np

    from vsep_core import plots
    from vsep_core.experiment import warm_up
    from vsep_core.settings import Settings
    from vsep_core.views import SLICE_NAMES, VIEW_NAMES, compute_view, stft

    # The Optimise page: every compiled loop (a tiny progressive run, greedy search and audio), and its charts.
    warm_up()
    names = list(SLICE_NAMES[:2])
    for fig in (
        plots.loss_curves_figure({"N=1": np.ones(3)}),
        plots.final_loss_figure({1: 1.0}, {"g": 1.0}),
        plots.greedy_heatmap_figure([{n: 1.0 for n in names}, {names[1]: 1.0}], names, 1),
    ):
        fig.to_json()
    # The Slices page: every view (and its display reduction).
    sr = 22050
    vocal = (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(0.3 * sr)) / sr)).astype(np.float32)
    mag = np.abs(stft(vocal, Settings(hop_length=512)))
    mag.flags.writeable = False  # as the cache shares a spectrogram (numba compiles read-only arrays apart)
    for name in VIEW_NAMES:
        plots.view_display(compute_view(mag, name), name, sr, 512, max_rows=8, max_cols=8)
    # The Results page and uploads at other sample rates: later, so that it does not compete with the
    # visitor's first clicks (Python runs one thread at a time).
    time.sleep(LATER_S)
    for fig in (
        plots.spectrograms_figure({"a": np.ones((4, 4))}, sr, 1040),
        plots.eq_heatmap_figure(np.ones((4, 4)), sr, 1040),
    ):
        fig.to_json()
    import librosa

    librosa.resample(vocal, orig_sr=44100, target_sr=sr, res_type="soxr_hq")


def _quietly() -> None:
    try:
        warm_up_engine()
    except Exception:  # noqa: BLE001 - it only saves time later; the pages meet and report real errors
        pass


def start() -> threading.Thread:
    """Run :func:`warm_up_engine` on a daemon thread; return the thread."""
    thread = threading.Thread(target=_quietly, name="vsep-warmup", daemon=True)
    thread.start()
    return thread


@memo(max_entries=1, copy=False)
def start_once() -> threading.Thread:
    """:func:`start`, once per server process (every page calls it after it is drawn); the thread."""
    return start()
