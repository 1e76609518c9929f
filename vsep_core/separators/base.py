"""What every separation method shares: the interface, the result, the input checks and the STFT.

Below every method module (:mod:`vsep_core.separators`) and the registry
(:mod:`vsep_core.baselines`) above them; it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .. import dsp
from ..audio import Pair, check_signal, engine_pair, to_true_scale
from ..errors import VsepError
from ..reconstruct import instrumental_from_vocal, vocal_from_db
from ..settings import Settings

#: The three kinds of method (see the module docstring).
KINDS = ("seed", "oracle", "blind")

#: Default settings of the methods that use the engine: the research code's,
#: except that the pair is taken at its true relative level (``"as_is"``),
#: as evaluation needs.
EVALUATION_SETTINGS = Settings(level="as_is")


@dataclass(frozen=True)
class Separation:
    """A method's output.

    Attributes
    ----------
    vocal, instrumental : np.ndarray [shape=(n,), dtype=float32]
        Estimates on the mixture's scale (not peak-normalised). Their length
        may differ from the mixture's (the seed method's inverse STFT is
        shorter); metrics fit them to the reference.
    info : dict
        What the method found (e.g. the greedy sequence), JSON-ready.
    """

    vocal: np.ndarray
    instrumental: np.ndarray
    info: dict = field(default_factory=dict)


@runtime_checkable
class Separator(Protocol):
    """What every method offers.

    Attributes
    ----------
    name : str
        Unique, as listed by :func:`method_names` (e.g. ``"irm"``).
    kind : {"seed", "oracle", "blind"}
    description : str
        One line for tables and ``--help``.
    """

    name: str
    kind: str
    description: str

    def separate(self, mixture: np.ndarray, sr: int, *, vocal: np.ndarray | None = None) -> Separation:
        """Estimate the vocal and the instrumental of ``mixture``.

        Non-blind methods require ``vocal``; blind ones refuse it.
        """
        ...


def run_method(method: Separator, mixture: np.ndarray, sr: int, vocal: np.ndarray | None = None) -> Separation:
    """Run a method, giving it the true vocal only if it is not blind.

    Parameters
    ----------
    method : Separator
    mixture : np.ndarray [shape=(n,)]
    sr : int
    vocal : np.ndarray [shape=(n,)], optional
        The true vocal on the mixture's scale; required unless the method is blind.

    Returns
    -------
    Separation
    """
    if method.kind not in KINDS:
        raise VsepError(f"Method {method.name!r} has kind {method.kind!r}; kinds are {', '.join(KINDS)}.")
    if method.kind == "blind":
        return method.separate(mixture, sr)
    if vocal is None:
        raise VsepError(f"The {method.name} method ({method.kind}) needs the true vocal.")
    return method.separate(mixture, sr, vocal=vocal)


# --- input checks -------------------------------------------------------------


def check_mixture(mixture, sr, n_fft: int) -> np.ndarray:
    if not (isinstance(sr, (int, np.integer)) and sr > 0):
        raise VsepError(f"The sample rate must be a positive whole number, got {sr!r}.")
    return check_signal(mixture, "mixture", min_samples=n_fft, sr=int(sr))


def check_vocal(vocal, mixture: np.ndarray, name: str) -> np.ndarray:
    if vocal is None:
        raise VsepError(f"The {name} method needs the true vocal.")
    vocal = check_signal(vocal, "vocal")
    if vocal.shape != mixture.shape:
        raise VsepError(
            f"The vocal has shape {vocal.shape} and the mixture {mixture.shape}; they must be the same length."
        )
    return vocal


def refuse_vocal(vocal, name: str) -> None:
    if vocal is not None:
        raise VsepError(f"The {name} method is blind: it must not be given the true vocal.")


# --- the engine's pair and its estimate (the seed methods and the exact EQ) -----------------


def method_pair(mixture: np.ndarray, vocal: np.ndarray, sr: int, settings: Settings) -> Pair:
    """The pair the engine sees under ``settings.level`` (gains in ``info``).

    The evaluation pair comes at its true level; :func:`vsep_core.audio.normalise_levels`
    applies the level exactly as :func:`vsep_core.audio.prepare_pair` does, so a method
    here works on the same samples as a run of the CLI or the dashboard.
    """
    if sr != settings.sr:
        raise VsepError(f"The pair is at {sr} Hz but the settings say {settings.sr} Hz.")
    return engine_pair(Pair(mixture=mixture, vocal=vocal, sr=sr), settings.level)


def separation_from_db(final_db, analysis, mixture, pair: Pair, info) -> Separation:
    vocal_raw = to_true_scale(vocal_from_db(np.asarray(final_db, dtype=np.float32), analysis), pair)
    return Separation(vocal=vocal_raw, instrumental=instrumental_from_vocal(mixture, vocal_raw), info=info)


# --- the STFT the mask methods live in ------------------------------------------------


def stft(y, n_fft, hop_length):
    return dsp.stft(y, n_fft=n_fft, hop_length=hop_length)  # librosa.stft's values, to the bit


def istft(D, n_fft, hop_length, length):
    return dsp.istft(D, n_fft=n_fft, hop_length=hop_length, length=length).astype(np.float32, copy=False)


def check_stft(n_fft, hop_length):
    if not (isinstance(n_fft, int) and 16 <= n_fft <= 65536):
        raise VsepError(f"n_fft must be a whole number from 16 to 65536, got {n_fft!r}.")
    if not (isinstance(hop_length, int) and 1 <= hop_length <= n_fft):
        raise VsepError(f"hop_length must be a whole number from 1 to n_fft ({n_fft}), got {hop_length!r}.")
