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


def warm_up_engine() -> None:
    """Import the DSP libraries and call every stage once on a tiny synthetic pair.

    numba loads each compiled kernel (from its on-disk cache) at its first call,
    and plotly imports each trace type's validators the first time one is built;
    a 0.3 s pair run through the same calls as a real one pays all of that here.
    """
    import numpy as np
    import librosa

    from vsep_core import audio, plots
    from vsep_core.alignment import check_alignment
    from vsep_core.experiment import run_experiment
    from vsep_core.settings import Settings
    from vsep_core.views import SLICE_NAMES

    sr = 22050
    t = np.arange(int(0.3 * sr)) / sr
    rng = np.random.default_rng(0)
    vocal = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    mixture = (vocal + 0.1 * rng.standard_normal(len(t))).astype(np.float32)
    settings = Settings(hop_length=512)
    pair = audio.prepare_pair(audio.Decoded(mixture[None, :], sr, "mixture"),
                              vocal=audio.Decoded(vocal[None, :], sr, "vocal"), settings=settings)
    check_alignment(pair.mixture, pair.vocal, sr)
    run_experiment(pair, settings, order=SLICE_NAMES, max_slices=3, greedy=True)
    librosa.resample(vocal, orig_sr=44100, target_sr=sr, res_type="soxr_hq")
    audio.wav_bytes(vocal, sr)
    names = list(SLICE_NAMES[:2])
    for fig in (plots.loss_curves_figure({"N=1": np.ones(3)}), plots.final_loss_figure({1: 1.0}, {"g": 1.0}),
                plots.greedy_heatmap_figure([{n: 1.0 for n in names}, {names[1]: 1.0}], names, 1),
                plots.spectrograms_figure({"a": np.ones((4, 4))}, sr, 1040),
                plots.eq_heatmap_figure(np.ones((4, 4)), sr, 1040)):
        fig.to_json()


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
