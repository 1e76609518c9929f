"""Harmonic/percussive separation (blind): the two-stage vocal HPSS and the drums' percussive part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Separation, check_mixture, check_stft, istft, refuse_vocal, stft


def median_filter_along(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size=…, mode="reflect")`` of a 2-D array along one axis.

    ``size`` points along ``axis``, one along the other. scipy's n-dimensional rank filter
    collects and selects every window anew; its 1-D path slides one window along (much
    faster: BENCHMARKS.md). The lines along ``axis``, each extended by its own reflection
    (numpy's ``"symmetric"`` is scipy's ``"reflect"``), are laid end to end and filtered in
    one 1-D call; the extensions are cut off again. Each output is the same element of the
    same window, so the result is identical. Lines shorter than the window (where repeated
    reflection would be needed) take scipy's n-dimensional path, as librosa called it.
    """
    import scipy.ndimage

    n = x.shape[axis]
    if n < size:
        footprint = [1, 1]
        footprint[axis] = size
        return scipy.ndimage.median_filter(x, size=footprint, mode="reflect")
    lines = np.ascontiguousarray(x if axis in (1, -1) else x.T)
    before, after = size // 2, size - size // 2 - 1  # scipy's window for origin 0
    extended = np.pad(lines, ((0, 0), (before, after)), mode="symmetric")
    filtered = scipy.ndimage.median_filter(extended.ravel(), size=size, mode="reflect")
    filtered = filtered.reshape(extended.shape)[:, before : before + n]
    return np.ascontiguousarray(filtered if axis in (1, -1) else filtered.T)


def hpss_masks(mag: np.ndarray, kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``librosa.decompose.hpss(mag, kernel_size=kernel_size, mask=True)``, with faster medians.

    The harmonic part is the median over ``kernel_size`` frames, the percussive part over
    ``kernel_size`` bins (both :func:`median_filter_along`, equal to librosa's
    ``scipy.ndimage.median_filter`` calls); the soft masks are librosa's own, with
    hpss's defaults (margins 1, power 2).
    """
    import librosa

    harmonic = median_filter_along(mag, kernel_size, axis=1)
    percussive = median_filter_along(mag, kernel_size, axis=0)
    margin = 1.0
    mask_harmonic = librosa.util.softmask(harmonic, percussive * margin, power=2.0, split_zeros=True)
    mask_percussive = librosa.util.softmask(percussive, harmonic * margin, power=2.0, split_zeros=True)
    return mask_harmonic, mask_percussive


@dataclass(frozen=True)
class TwoStageHPSS:
    """Two-stage harmonic/percussive separation for vocals (blind).

    Stage 1, long frames (``n_fft_long``): the harmonic part is what is
    steady for a long time — sustained accompaniment — and is removed.
    Stage 2, short frames (``n_fft_short``) on the rest: the voice's partials
    now look steady ("harmonic") while drums stay percussive; the stage-2
    harmonic part is the vocal estimate (Tachibana, Ono, Ono & Sagayama,
    "Melody line estimation in homophonic music audio signals based on
    temporal-variability of melodic source", ICASSP 2010). Soft masks
    (librosa's ``hpss(mask=True)``, power 2). The instrumental is the
    mixture minus the vocal.
    """

    n_fft_long: int = 4096
    n_fft_short: int = 512
    kernel_size: int = 31
    name: ClassVar[str] = "hpss"
    kind: ClassVar[str] = "blind"
    description: ClassVar[str] = "Two-stage HPSS: long-frame harmonic removed, short-frame harmonic kept (blind)"
    suited_targets: ClassVar[tuple] = ("vocals",)
    unsuited_note: ClassVar[str] = (
        "two-stage HPSS keeps what fluctuates (a singing voice's partials); it is not a blind estimate of this stem"
    )

    def __post_init__(self):
        check_stft(self.n_fft_long, self.n_fft_long // 4)
        check_stft(self.n_fft_short, self.n_fft_short // 4)

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        refuse_vocal(vocal, self.name)
        mixture = check_mixture(mixture, sr, self.n_fft_short)
        n = len(mixture)
        rest = mixture
        for n_fft, keep in ((self.n_fft_long, "percussive"), (self.n_fft_short, "harmonic")):
            hop = n_fft // 4
            D = stft(rest, n_fft, hop)
            # = librosa.decompose.hpss(np.abs(D), kernel_size=self.kernel_size, mask=True), exactly
            harmonic, percussive = hpss_masks(np.abs(D), self.kernel_size)
            rest = istft((percussive if keep == "percussive" else harmonic) * D, n_fft, hop, n)
        return Separation(vocal=rest, instrumental=(mixture - rest).astype(np.float32), info={})


@dataclass(frozen=True)
class PercussiveHPSS:
    """One-stage HPSS's percussive part as the estimate: a fair blind baseline for drums only.

    Median filtering across frequency (``kernel_size`` bins) keeps what is
    short in time and broad in frequency — hits; librosa's soft masks (margin
    1, power 2), as :func:`hpss_masks`. The complement is the mixture minus
    it. For a vocal, a bass line or chords this is not a meaningful blind
    estimate, and evaluation flags it so.
    """

    n_fft: int = 2048
    hop_length: int = 512
    kernel_size: int = 31
    name: ClassVar[str] = "hpss_percussive"
    kind: ClassVar[str] = "blind"
    description: ClassVar[str] = "HPSS percussive part (n_fft 2048): a blind estimate for drums (blind)"
    suited_targets: ClassVar[tuple] = ("drums",)
    unsuited_note: ClassVar[str] = "HPSS's percussive part estimates drums, not this stem"

    def __post_init__(self):
        check_stft(self.n_fft, self.hop_length)

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        refuse_vocal(vocal, self.name)
        mixture = check_mixture(mixture, sr, self.n_fft)
        n = len(mixture)
        D = stft(mixture, self.n_fft, self.hop_length)
        _, percussive = hpss_masks(np.abs(D), self.kernel_size)
        drums = istft(percussive * D, self.n_fft, self.hop_length, n)
        return Separation(vocal=drums, instrumental=(mixture - drums).astype(np.float32), info={})
