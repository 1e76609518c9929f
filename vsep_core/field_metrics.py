"""The metrics the field reads now, beside SI-SDR and BSS Eval: uSDR, bleedless and fullness.

**uSDR** ("utterance" SDR; the SDR of the Music Demixing challenges 2021/2023 and of the MVSep
leaderboard): the whole signal's signal-to-error ratio, no filters, no frames,
``10·log10((Σ s² + ε) / (Σ (s − ŝ)² + ε))`` with ε = 1e-8, as Music-Source-Separation-Training's
``utils/metrics.py::sdr`` computes it (ZFTurbo/Music-Source-Separation-Training, commit
ccc011abf7f89dd7922bb2888d48493b575c0289; the MDX 2021 evaluation used the same formula with
ε = 1e-7). museval's "SDR" is instead the median over 1 s frames of BSS Eval's figure (the papers
call that one cSDR, "chunk" SDR).

**bleedless / fullness** (the same file's ``bleed_full``, used on the MVSep leaderboard): both
signals' magnitude STFT (Hann 4096, hop 1024, centred with zero padding, as ``torch.stft(...,
pad_mode="constant")``), a 512-band mel filter bank (``librosa.filters.mel(sr, n_fft=4096,
n_mels=512)``, Slaney), amplitude to dB (``20·log10(max(x, 1e-10))``, floored 80 dB below the
signal's peak, as torchaudio's ``AmplitudeToDB("magnitude", top_db=80)``), and
``diff = estimate_dB − reference_dB``:

- bleedless = 100 / (1 + mean of the positive differences): energy the estimate has and the
  reference does not (bleed from other sources). 100 = none.
- fullness = 100 / (1 + mean of |negative differences|): energy the reference has and the
  estimate lost. 100 = nothing lost.

Differences: MSST trims both signals to the shorter one; here, as every vsep metric does, the
estimate is fitted to the reference's length (a missing tail counts as error). MSST's
``get_metrics`` calls ``bleed_full`` with its default ``sr=44100`` whatever the files' rate; here
the mel bands are placed at the signal's own rate. The figures are computed in float64.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from functools import lru_cache

import numpy as np

#: ε of the uSDR (MSST's ``sdr``).
USDR_EPS = 1e-8
#: bleed_full's STFT and mel settings (MSST's defaults).
BLEED_N_FFT = 4096
BLEED_HOP = 1024
BLEED_N_MELS = 512
BLEED_TOP_DB = 80.0
BLEED_AMIN = 1e-10
#: Frames transformed at once (bounds the temporaries: 128 × 4096 samples).
_FRAME_CHUNK = 128

#: The keys these metrics have in a report's source dicts, and their labels.
FIELD_METRICS = {"usdr": "uSDR", "bleedless": "bleedless", "fullness": "fullness"}


def usdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Whole-signal SDR (MDX / MVSep): ``10·log10((Σ s² + ε) / (Σ (s − ŝ)² + ε))``, in dB.

    Parameters
    ----------
    reference, estimate : np.ndarray [shape=(n,) or (channels, n)]
        Of one shape (fit the estimate's length first).
    """
    s = np.asarray(reference, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if s.shape != e.shape:
        raise ValueError(f"uSDR needs signals of one shape, got {s.shape} and {e.shape}.")
    num = float(np.sum(np.square(s))) + USDR_EPS
    den = float(np.sum(np.square(s - e))) + USDR_EPS
    return 10.0 * float(np.log10(num / den))


def _mel_db(signal: np.ndarray, mel_basis: np.ndarray) -> np.ndarray:
    """Mel magnitude in dB, floored ``top_db`` below its peak: (channels, mels, frames)."""
    x = np.atleast_2d(np.asarray(signal, dtype=np.float64))
    pad = BLEED_N_FFT // 2
    padded = np.pad(x, ((0, 0), (pad, pad)), mode="constant")
    n_frames = 1 + (padded.shape[1] - BLEED_N_FFT) // BLEED_HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, BLEED_N_FFT, axis=1)[:, ::BLEED_HOP][:, :n_frames]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(BLEED_N_FFT) / BLEED_N_FFT)  # periodic Hann
    mel = np.empty((len(x), mel_basis.shape[0], n_frames))
    for first in range(0, n_frames, _FRAME_CHUNK):  # a few MB at a time, whatever the length
        chunk = slice(first, first + _FRAME_CHUNK)
        magnitude = np.abs(np.fft.rfft(frames[:, chunk] * window, axis=-1))  # (channels, frames, bins)
        for c in range(len(x)):
            mel[c, :, chunk] = mel_basis @ magnitude[c].T
    db = 20.0 * np.log10(np.maximum(mel, BLEED_AMIN))
    return np.maximum(db, db.max() - BLEED_TOP_DB)


#: The last references' mel dB (a pair's two references: every method is scored against them).
_REFERENCE_CACHE: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_REFERENCE_CACHE_SIZE = 2
_REFERENCE_LOCK = threading.Lock()


def _reference_db(reference: np.ndarray, sr: int, basis) -> np.ndarray:
    """:func:`_mel_db` of a reference, kept for the next estimates scored against it."""
    ref = np.ascontiguousarray(reference, dtype=np.float64)
    key = (hashlib.sha1(ref.view(np.uint8)).hexdigest(), ref.shape, int(sr), id(basis))
    # Made under the lock: methods scored at once on threads wait for the one copy, not make it twice.
    with _REFERENCE_LOCK:
        if key in _REFERENCE_CACHE:
            _REFERENCE_CACHE.move_to_end(key)
            return _REFERENCE_CACHE[key]
        db = _mel_db(ref, basis)
        db.setflags(write=False)
        _REFERENCE_CACHE[key] = db
        while len(_REFERENCE_CACHE) > _REFERENCE_CACHE_SIZE:
            _REFERENCE_CACHE.popitem(last=False)
        return db


def release_reference_db() -> None:
    """Forget the kept references' mel dB (about 30 MB for a whole song's two references)."""
    with _REFERENCE_LOCK:
        _REFERENCE_CACHE.clear()


_MEL_LOCK = threading.Lock()


def mel_basis(sr: int):
    """bleed_full's mel filter bank at ``sr``, float64, as a sparse matrix (each band covers a few bins:
    ~4,000 of its million entries are not zero). Built once per rate (librosa takes seconds), also when
    methods are scored at once on threads (they wait for the one being built)."""
    with _MEL_LOCK:
        return _mel_basis(sr)


@lru_cache(maxsize=4)
def _mel_basis(sr: int):
    import librosa
    import scipy.sparse

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Empty filters detected": 512 bands are that fine
        dense = librosa.filters.mel(sr=sr, n_fft=BLEED_N_FFT, n_mels=BLEED_N_MELS).astype(np.float64)
    return scipy.sparse.csr_matrix(dense)


def bleed_full(reference: np.ndarray, estimate: np.ndarray, sr: int, *, basis: np.ndarray | None = None):
    """MSST's bleedless and fullness of an estimate (see the module docstring).

    Parameters
    ----------
    reference, estimate : np.ndarray [shape=(n,) or (channels, n)]
        Of one shape.
    sr : int
        Places the mel bands.
    basis : optional
        :func:`mel_basis` of ``sr`` (default: that, cached).

    Returns
    -------
    bleedless, fullness : float
        0 … 100, higher is better.
    """
    reference, estimate = np.asarray(reference), np.asarray(estimate)
    if reference.shape != estimate.shape:
        raise ValueError(f"bleed_full needs signals of one shape, got {reference.shape} and {estimate.shape}.")
    basis = mel_basis(sr) if basis is None else basis
    diff = _mel_db(estimate, basis) - _reference_db(reference, sr, basis)
    positive, negative = diff[diff > 0], diff[diff < 0]
    average_positive = float(np.mean(positive)) if positive.size else 0.0
    average_negative = float(np.mean(negative)) if negative.size else 0.0
    return 100.0 / (average_positive + 1.0), 100.0 / (-average_negative + 1.0)


def field_metrics(reference: np.ndarray, estimate: np.ndarray, sr: int, *, basis: np.ndarray | None = None) -> dict:
    """``{"usdr", "bleedless", "fullness"}`` of one estimate (fitted to the reference's length already)."""
    bleedless, fullness = bleed_full(reference, estimate, sr, basis=basis)
    return {"usdr": usdr(reference, estimate), "bleedless": bleedless, "fullness": fullness}
