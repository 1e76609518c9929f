"""Import and first-use work for the later pages, done once per server on a background thread.

The first page a visitor sees (the bundled sample loaded, players, waveform,
alignment check) needs neither the slice views (scipy.ndimage), the
optimiser's compiled kernels (numba), librosa's STFT nor plotly's figure
classes; importing and first calling them takes a few seconds here. So the
first page does not import them, and this work runs on a thread once that
page is drawn: by the time the Slices or Optimise page asks for a
spectrogram, a run or a chart, it is done (or under way, and the page waits
only for the rest). Plain functions: :func:`vsep_app.cache.warm_up` starts it
once per server.
"""

from __future__ import annotations

import threading
import time

#: Seconds between the warm-up of the Optimise and Slices pages and that of the Results page.
LATER_S = 5.0


def warm_up_engine() -> None:
    """Import the DSP libraries and call every stage once on a tiny synthetic pair.

    numba loads each compiled kernel (from its on-disk cache) at its first call,
    and plotly imports each trace type's validators the first time one is built;
    a 0.3 s pair run through the same calls as a real one pays all of that here.
    First what a run on the Optimise page needs (the likeliest next click), then
    the Slices page's views, then the Results page and uploads at other rates.
    """
    import numpy as np

    from vsep_core import audio, plots
    from vsep_core.experiment import run_experiment
    from vsep_core.settings import Settings
    from vsep_core.views import SLICE_NAMES, VIEW_NAMES, compute_view, magphase, stft

    sr = 22050
    t = np.arange(int(0.3 * sr)) / sr
    rng = np.random.default_rng(0)
    vocal = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    mixture = (vocal + 0.1 * rng.standard_normal(len(t))).astype(np.float32)
    settings = Settings(hop_length=512)
    pair = audio.prepare_pair(audio.Decoded(mixture[None, :], sr, "mixture"),
                              vocal=audio.Decoded(vocal[None, :], sr, "vocal"), settings=settings)
    # The Optimise page: progressive runs and the greedy search, and their charts.
    result = run_experiment(pair, settings, order=SLICE_NAMES, max_slices=3, greedy=True)
    names = list(SLICE_NAMES[:2])
    for fig in (plots.loss_curves_figure({"N=1": np.ones(3)}), plots.final_loss_figure({1: 1.0}, {"g": 1.0}),
                plots.greedy_heatmap_figure([{n: 1.0 for n in names}, {names[1]: 1.0}], names, 1)):
        fig.to_json()
    # The Slices page: every view (and its display reduction).
    mag = magphase(stft(pair.vocal, settings, hop_length=512))[0]
    for name in VIEW_NAMES:
        plots.view_display(compute_view(mag, name), name, sr, 512, max_rows=8, max_cols=8)
    # The Results page and uploads at other sample rates: later, so that it does not compete with the
    # visitor's first clicks (Python runs one thread at a time; these take ~0.6 s here).
    time.sleep(LATER_S)
    for fig in (plots.spectrograms_figure({"a": np.ones((4, 4))}, sr, 1040),
                plots.eq_heatmap_figure(np.ones((4, 4)), sr, 1040)):
        fig.to_json()
    audio.wav_bytes(result.progressive[-1].estimate.vocal_raw, sr)
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
