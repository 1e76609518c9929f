"""Ideal ratio, binary and Wiener-style masks from the true sources (oracles)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import VsepError
from .base import Separation, check_mixture, check_stft, check_vocal, istft, stft

#: Ideal masks: name → (description, mask of the vocal from |V| and |A|).
_MASKS = {
    "irm": ("Ideal ratio mask |V| / (|V| + |A|)", lambda v, a: v / np.maximum(v + a, np.finfo(np.float32).tiny)),
    "ibm": ("Ideal binary mask |V| > |A|", lambda v, a: (v > a).astype(np.float32)),
    "wiener": (
        "Ideal Wiener-style mask |V|² / (|V|² + |A|²)",
        lambda v, a: v * v / np.maximum(v * v + a * a, np.finfo(np.float32).tiny),
    ),
}


@dataclass(frozen=True)
class IdealMask:
    """An ideal time-frequency mask computed from the true sources.

    The vocal is the mask times the mixture's STFT, the instrumental the
    complement ``1 − mask`` times it (the same as mixture − vocal for the
    continuous masks).

    Parameters
    ----------
    mask : {"irm", "ibm", "wiener"}
    n_fft, hop_length : int
        The STFT the mask lives in (2048 / 512: Hann, 75 % overlap).
    """

    mask: str = "irm"
    n_fft: int = 2048
    hop_length: int = 512
    kind: ClassVar[str] = "oracle"

    def __post_init__(self):
        if self.mask not in _MASKS:
            raise VsepError(f"Unknown mask {self.mask!r}; choose one of {', '.join(_MASKS)}.")
        check_stft(self.n_fft, self.hop_length)

    @property
    def name(self) -> str:
        return self.mask

    @property
    def description(self) -> str:
        return _MASKS[self.mask][0]

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = check_mixture(mixture, sr, self.n_fft)
        vocal = check_vocal(vocal, mixture, self.name)
        mix_stft = stft(mixture, self.n_fft, self.hop_length)
        voc_mag = np.abs(stft(vocal, self.n_fft, self.hop_length))
        acc_mag = np.abs(stft(mixture - vocal, self.n_fft, self.hop_length))
        mask = _MASKS[self.mask][1](voc_mag, acc_mag)
        n = len(mixture)
        return Separation(
            vocal=istft(mask * mix_stft, self.n_fft, self.hop_length, n),
            instrumental=istft((1.0 - mask) * mix_stft, self.n_fft, self.hop_length, n),
            info={"n_fft": self.n_fft, "hop_length": self.hop_length},
        )
