"""The exact 400-band EQ: the seed method's own ceiling (oracle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..analysis import analyse
from ..errors import VsepError
from ..fingerprint import interp_map
from ..optimise import working_profiles
from ..settings import Settings
from ..views import RAW
from .base import EVALUATION_SETTINGS, Separation, check_mixture, check_vocal, method_pair, separation_from_db


def exact_eq_db(mixture_db: np.ndarray, target_db: np.ndarray, settings: Settings) -> np.ndarray:
    """The mixture with each window's EQ set to the whole gap to the target.

    ``mixture_db + interp_{points→bins}(target − profile(mixture_db))``: what
    one pass would converge to with no iteration limit and no clipping. It is
    the method's own ceiling: no chain of passes can match the raw
    fingerprint more closely.

    Parameters
    ----------
    mixture_db : np.ndarray [shape=(bins, windows)]
    target_db : np.ndarray [shape=(n_points, windows)]
        The vocal's raw-view targets.
    settings : Settings

    Returns
    -------
    np.ndarray [shape=(bins, windows), dtype=float32]
    """
    if target_db.shape != (settings.n_points, mixture_db.shape[1]):
        raise VsepError(
            f"The targets have shape {target_db.shape}; expected ({settings.n_points}, {mixture_db.shape[1]})."
        )
    gap = target_db - working_profiles(mixture_db, settings)
    return (mixture_db + interp_map(settings.n_points, mixture_db.shape[0])(gap)).astype(np.float32)


@dataclass(frozen=True)
class ExactEQ:
    """The exact 400-band EQ: the seed method's ceiling (see :func:`exact_eq_db`)."""

    settings: Settings = EVALUATION_SETTINGS
    name: ClassVar[str] = "exact_eq"
    kind: ClassVar[str] = "oracle"
    description: ClassVar[str] = "Exact 400-band EQ: each window set to the target's profile (the method's ceiling)"

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = check_mixture(mixture, sr, self.settings.n_fft)
        vocal = check_vocal(vocal, mixture, self.name)
        pair = method_pair(mixture, vocal, sr, self.settings)
        analysis = analyse(pair, self.settings, views=(RAW,))
        final_db = exact_eq_db(analysis.mixture_db, analysis.targets[RAW], self.settings)
        return separation_from_db(final_db, analysis, mixture, pair, {})
