"""The phase oracle: the target's true magnitude with the mixture's phase, in every bin.

The seed method keeps the mixture's phase and shapes the magnitude with a 400-band EQ per
window. The phase oracle keeps the same phase and takes the target's exact magnitude in every
bin of the same STFT (the engine's FFT size and hop), so whatever it loses is what the
mixture's phase costs. Between it and the exact 400-band EQ (:class:`vsep_core.baselines.ExactEQ`)
lies what the 400-point resolution costs; below that, the optimisation (see
:mod:`vsep_core.waterfall`). Open-Unmix's users asked for this oracle by name ("true magnitude,
mixed phase"); sigsep's IRM with magnitude ratios differs in that it scales the mixture's
magnitude rather than replacing it.

It reads the true target, so it is an ``oracle``. Its inverse STFT is taken at the full length
of the mixture: where the mixture's phase equals the target's (the mixture a positive multiple
of the target), it gives the target back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import dsp
from .audio import check_signal
from .errors import VsepError
from .reconstruct import instrumental_from_vocal
from .settings import Settings

#: The settings of the seed method in evaluation (its STFT is the one used here).
_DEFAULT_SETTINGS = Settings(level="as_is")


def phase_oracle_vocal(mixture: np.ndarray, vocal: np.ndarray, settings: Settings) -> np.ndarray:
    """``istft(|V| · X / |X|)`` in the engine's STFT: the target's magnitude with the mixture's phase.

    Parameters
    ----------
    mixture, vocal : np.ndarray [shape=(n,)]
        On one scale (the estimate is on that scale: the magnitude is the vocal's own).
    settings : Settings
        Its ``n_fft`` and hop (``settings.hop_for(n)``), as the seed method's analysis uses.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]
        Where the mixture's bin is exactly zero its phase is taken as 0 (``magphase``'s rule).
    """
    hop = settings.hop_for(len(mixture))
    mix = dsp.stft(mixture, n_fft=settings.n_fft, hop_length=hop)
    _, phase = dsp.magphase(mix)
    magnitude = np.abs(dsp.stft(vocal, n_fft=settings.n_fft, hop_length=hop))
    return dsp.istft(magnitude * phase, n_fft=settings.n_fft, hop_length=hop, length=len(mixture)).astype(
        np.float32, copy=False
    )


@dataclass(frozen=True)
class PhaseOracle:
    """The target's true magnitude with the mixture's phase (see the module docstring)."""

    settings: Settings = _DEFAULT_SETTINGS
    name: ClassVar[str] = "phase_oracle"
    kind: ClassVar[str] = "oracle"
    description: ClassVar[str] = (
        "Phase oracle: the true target's magnitude in every bin with the mixture's phase "
        "(what keeping the mixture's phase costs)"
    )

    def separate(self, mixture, sr, *, vocal=None):
        from .baselines import Separation

        if not (isinstance(sr, (int, np.integer)) and sr > 0):
            raise VsepError(f"The sample rate must be a positive whole number, got {sr!r}.")
        mixture = check_signal(mixture, "mixture", min_samples=self.settings.n_fft, sr=int(sr))
        if vocal is None:
            raise VsepError(f"The {self.name} method needs the true vocal.")
        vocal = check_signal(vocal, "vocal")
        if vocal.shape != mixture.shape:
            raise VsepError(
                f"The vocal has shape {vocal.shape} and the mixture {mixture.shape}; they must be the same length."
            )
        estimate = phase_oracle_vocal(mixture, vocal, self.settings)
        return Separation(
            vocal=estimate,
            instrumental=instrumental_from_vocal(mixture, estimate),
            info={"n_fft": self.settings.n_fft, "hop_length": self.settings.hop_for(len(mixture))},
        )
