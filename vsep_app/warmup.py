"""Import the DSP libraries once per server, in the background.

librosa's first import (its numba-compiled helpers) takes about 2 s here.
The first page a visitor sees does not need it for the bundled sample, so
the import is started after that page is drawn, on a thread, and is ready
by the time the Slices or Optimise page asks for a spectrogram.
"""

from __future__ import annotations

import threading

import streamlit as st


def _import_dsp() -> None:
    import numpy as np
    import librosa

    y = np.zeros(4096, dtype=np.float32)
    librosa.istft(librosa.stft(y, n_fft=2048, hop_length=1040), hop_length=1040, n_fft=2048)
    librosa.resample(y, orig_sr=44100, target_sr=22050, res_type="soxr_hq")


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Start the background import (a process-wide resource, not session data)."""
    thread = threading.Thread(target=_import_dsp, name="vsep-warmup", daemon=True)
    thread.start()
    return thread
