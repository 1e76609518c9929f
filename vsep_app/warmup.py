"""Import the DSP libraries once per server, in the background.

librosa's first import (its numba-compiled helpers) takes about 2 s here, and
plotly imports each trace type's validators the first time one is built.
The first page a visitor sees needs neither for the bundled sample, so this
work is started after that page is drawn, on a thread, and is done by the
time the Slices or Optimise page asks for a spectrogram or a chart.
"""

from __future__ import annotations

import threading

import streamlit as st


def _import_dsp() -> None:
    import numpy as np
    import librosa
    import scipy.ndimage  # noqa: F401
    import scipy.signal  # noqa: F401

    from vsep_core import audio, plots

    y = np.zeros(4096, dtype=np.float32)
    librosa.istft(librosa.stft(y, n_fft=2048, hop_length=1040), hop_length=1040, n_fft=2048)
    librosa.resample(y, orig_sr=44100, target_sr=22050, res_type="soxr_hq")
    audio.wav_bytes(y, 22050)
    # plotly imports each trace type's validators on first use (a few hundred ms each here).
    names = ["slice_1_horizontal", "slice_2_vertical"]
    for fig in (plots.loss_curves_figure({"N=1": np.ones(3)}), plots.final_loss_figure({1: 1.0}, {"g": 1.0}),
                plots.greedy_heatmap_figure([{n: 1.0 for n in names}, {names[1]: 1.0}], names, 1),
                plots.spectrograms_figure({"a": np.ones((4, 4))}, 22050, 1040),
                plots.eq_heatmap_figure(np.ones((4, 4)), 22050, 1040)):
        fig.to_json()


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Start the background import (a process-wide resource, not session data)."""
    thread = threading.Thread(target=_import_dsp, name="vsep-warmup", daemon=True)
    thread.start()
    return thread
