"""A made-up 44.1 kHz stereo song with its stems, for the full-quality tests (issue #21)."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def stereo_pair(sr: int = 44100, seconds: float = 3.0, seed: int = 0) -> tuple[bytes, bytes, bytes]:
    """A made-up stereo song at ``sr`` as float WAV bytes: a vibrato voice with breathy noise (up to the
    file's Nyquist), panned left, over a chord and noise bursts panned right; (mixture, vocal, instrumental)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 220 * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 30) if k * 240 < sr / 2)
    voice = voice * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2)
    vocal = 0.3 * voice / np.max(np.abs(voice)) + 0.05 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 2 * t) > 0.7)
    chord = 0.2 * sum(np.sin(2 * np.pi * f * t) for f in (130.8, 164.8, 196.0))
    bursts = 0.2 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 4 * t) > 0.9)
    instrumental = np.stack([chord + 0.6 * bursts, 0.7 * chord + bursts])
    vocals = np.stack([0.8 * vocal, 0.6 * vocal])

    def wav(x: np.ndarray) -> bytes:
        buf = io.BytesIO()
        sf.write(buf, x.T.astype(np.float32), sr, format="WAV", subtype="FLOAT")
        return buf.getvalue()

    return wav(vocals + instrumental), wav(vocals), wav(instrumental)
