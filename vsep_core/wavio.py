"""Writing audio: 16-bit PCM (or float) WAV bytes and files, written atomically."""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf


def wav_bytes(y: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> bytes:
    """The one WAV writer, in memory: a mono signal as 16-bit PCM (default) or ``subtype="FLOAT"``.

    ``y`` may also be ``(n, channels)``, samples first as libsndfile takes them (the full-quality
    estimates, :mod:`vsep_core.full_quality`).

    16-bit output is the bytes libsndfile writes (tests check); other
    subtypes go through libsndfile itself.
    """
    if subtype == "PCM_16":
        header, pcm = _pcm16_wav(y, sr)
        return header + pcm.tobytes()
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def write_wav(path, y: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> Path:
    """:func:`wav_bytes` into a file (16-bit PCM, as the research code did), creating folders, atomically
    (:func:`vsep_core.staging.atomic_file`)."""
    from .staging import atomic_file

    path = Path(path)
    with atomic_file(path, "wb") as f:
        if subtype == "PCM_16":
            header, pcm = _pcm16_wav(y, sr)
            f.write(header)
            f.write(memoryview(pcm).cast("B"))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sf.write(f, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype=subtype)
    return path


def _pcm16_wav(y: np.ndarray, sr: int) -> tuple[bytes, np.ndarray]:
    """The header and samples of a 16-bit WAV (samples by :func:`vsep_core.dsp.pcm16`): mono ``(n,)``, or
    ``(n, channels)`` interleaved as libsndfile writes them.

    libsndfile converts float samples one by one through its own buffers; one compiled
    loop is several times faster (BENCHMARKS.md).
    """
    from .dsp import pcm16

    if np.ndim(y) not in (1, 2):
        raise ValueError("write one channel (a 1-D signal) or (samples, channels)")
    channels = 1 if np.ndim(y) == 1 else np.shape(y)[1]
    pcm = pcm16(y)
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + pcm.nbytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        sr,
        2 * sr * channels,
        2 * channels,
        16,
        b"data",
        pcm.nbytes,
    )
    return header, pcm
