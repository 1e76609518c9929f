"""Rebuild audio from a learned spectrogram with the mixture's phase (spec §8)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import dsp
from .analysis import Analysis
from .audio import Pair, peak_normalise
from .errors import VsepError
from .optimise import ChainResult


@dataclass(frozen=True)
class Estimate:
    """A separated pair of signals.

    Attributes
    ----------
    vocal_raw : np.ndarray [shape=(n,), dtype=float32]
        The vocal estimate before peak normalisation (what metrics should see).
    mixture : np.ndarray [shape=(n_mixture,), dtype=float32]
        The mixture it came from (shared, not copied).
    sr : int
    """

    vocal_raw: np.ndarray
    mixture: np.ndarray
    sr: int

    @property
    def instrumental(self) -> np.ndarray:
        """The mixture minus ``vocal_raw`` (zero-padded to the mixture's length)."""
        return instrumental_from_vocal(self.mixture, self.vocal_raw)

    @property
    def vocal(self) -> np.ndarray:
        """The vocal estimate peak-normalised, as the research code saves it."""
        return peak_normalise(self.vocal_raw)


def magnitude_from_db(final_db: np.ndarray) -> np.ndarray:
    """``10^(Wdb/20)`` with NaN and ±inf set to 0 (spec §5.5).

    Parameters
    ----------
    final_db : np.ndarray [shape=(bins, windows), dtype=float32]
    """
    return np.nan_to_num(10.0 ** (final_db / 20.0), nan=0.0, posinf=0.0, neginf=0.0)


def vocal_from_db(final_db: np.ndarray, analysis: Analysis) -> np.ndarray:
    """Inverse STFT of the learned magnitude with the mixture's phase, not normalised.

    No length is passed to the inverse STFT (as in the research code), so
    100 windows at hop 1040 give 99 · 1040 = 102,960 samples. Equal to the
    research code's ``librosa.istft(10^(Wdb/20) · P)`` to the bit (tests check
    it), in a few vectorised steps instead of librosa's frame loop.

    Returns
    -------
    np.ndarray [shape=((windows − 1) · hop,), dtype=float32]
    """
    from ._kernels import spectrum_frames

    if final_db.shape != analysis.phase.shape:
        raise VsepError(
            f"The spectrogram has shape {final_db.shape} but the mixture's phase {analysis.phase.shape}; "
            "they must come from the same analysis."
        )
    magnitude = 10.0 ** (final_db / 20.0)  # numpy's float32 power, as magnitude_from_db
    frames = np.empty((final_db.shape[1], final_db.shape[0]), dtype=np.complex64)
    # librosa's phase is frames-first in memory already (Fortran order): its transpose is free.
    spectrum_frames(magnitude, np.ascontiguousarray(analysis.phase.T), frames)
    return dsp.istft_frames(frames, hop_length=analysis.hop_length, n_fft=analysis.settings.n_fft)


def instrumental_from_vocal(mixture: np.ndarray, vocal_raw: np.ndarray) -> np.ndarray:
    """``mixture − vocal``, the vocal zero-padded or trimmed to the mixture's length."""
    fitted = np.zeros(len(mixture), dtype=np.float32)
    n = min(len(mixture), len(vocal_raw))
    fitted[:n] = vocal_raw[:n]
    return (mixture - fitted).astype(np.float32, copy=False)


def estimate_from_chain(chain: ChainResult, analysis: Analysis, pair: Pair) -> Estimate:
    """The vocal and instrumental estimates of a finished chain."""
    if chain.final_db is None:
        raise ValueError("This chain's final spectrogram was not kept; run it again with run_chain.")
    vocal_raw = vocal_from_db(chain.final_db, analysis)
    return Estimate(vocal_raw=vocal_raw, mixture=pair.mixture, sr=pair.sr)
