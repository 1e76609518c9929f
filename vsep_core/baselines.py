"""Separation methods behind one small interface, for evaluation.

Every method takes the mixture (and, unless it is blind, the true vocal) and
returns a vocal and an instrumental estimate on the mixture's scale, never
peak-normalised, so an evaluation loop treats the seed method, its ceilings
and its floors alike (as nussl's benchmark separators do).

Kinds:

``"seed"``
    The fingerprint-EQ method itself: progressive runs over N slices, the
    greedy ordering search, and the joint matching of every window's EQ
    (:mod:`vsep_core.joint`). It needs the true vocal (its fingerprints).
``"oracle"``
    Ceilings that read the true vocal: the method's exact 400-band EQ (each
    window's EQ set to the full gap, no iterations, no clipping), and the
    ideal ratio, binary and Wiener-style masks.
``"blind"``
    Methods that never see the vocal: REPET-SIM, a two-stage HPSS, and the
    mixture itself as the estimate (the floor); for drums, the percussive
    part of a one-stage HPSS.

The target need not be the vocal (:mod:`vsep_core.stems`): the ``vocal``
argument and output slot then hold the target stem (drums, bass …) and
``instrumental`` everything else. Seed and oracle methods work for any
target. A blind method built for one kind of source says so with
``suited_targets`` (and ``unsuited_note``); evaluation flags its figures for
any other target rather than present them as a fair baseline.

Use :func:`get_method` to build one by name and :func:`run_method` to run
it; ``run_method`` is what guarantees that a blind method never receives the
vocal.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Protocol, runtime_checkable

import numba
import numpy as np

from . import dsp
from .analysis import Analysis, analyse
from .audio import Pair, check_signal, engine_pair, to_true_scale
from .errors import VsepError
from .experiment import resolve_order
from .fingerprint import interp_map
from .joint import JointSettings, run_joint
from .optimise import run_chain, working_profiles
from .reconstruct import instrumental_from_vocal, vocal_from_db
from .search import greedy_search
from .settings import Settings
from .views import RAW, SLICE_NAMES

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

def _check_mixture(mixture, sr, n_fft: int) -> np.ndarray:
    if not (isinstance(sr, (int, np.integer)) and sr > 0):
        raise VsepError(f"The sample rate must be a positive whole number, got {sr!r}.")
    return check_signal(mixture, "mixture", min_samples=n_fft, sr=int(sr))


def _check_vocal(vocal, mixture: np.ndarray, name: str) -> np.ndarray:
    if vocal is None:
        raise VsepError(f"The {name} method needs the true vocal.")
    vocal = check_signal(vocal, "vocal")
    if vocal.shape != mixture.shape:
        raise VsepError(f"The vocal has shape {vocal.shape} and the mixture {mixture.shape}; "
                        "they must be the same length.")
    return vocal


def _refuse_vocal(vocal, name: str) -> None:
    if vocal is not None:
        raise VsepError(f"The {name} method is blind: it must not be given the true vocal.")


# --- the seed method and its exact ceiling --------------------------------------

def _engine_pair(mixture: np.ndarray, vocal: np.ndarray, sr: int, settings: Settings) -> Pair:
    """The pair the engine sees under ``settings.level`` (gains in ``info``).

    The evaluation pair comes at its true level; :func:`vsep_core.audio.normalise_levels`
    applies the level exactly as :func:`vsep_core.audio.prepare_pair` does, so a method
    here works on the same samples as a run of the CLI or the dashboard.
    """
    if sr != settings.sr:
        raise VsepError(f"The pair is at {sr} Hz but the settings say {settings.sr} Hz.")
    return engine_pair(Pair(mixture=mixture, vocal=vocal, sr=sr), settings.level)


def _separation_from_db(final_db, analysis, mixture, pair: Pair, info) -> Separation:
    vocal_raw = to_true_scale(vocal_from_db(np.asarray(final_db, dtype=np.float32), analysis), pair)
    return Separation(vocal=vocal_raw, instrumental=instrumental_from_vocal(mixture, vocal_raw), info=info)


@dataclass(frozen=True)
class SeedProgressive:
    """The seed method: passes over the first N slices of an order, then the polish.

    Parameters
    ----------
    n_slices : int
        N (1 … len(order)); the research code's runs are N = 1 … 18.
    order : tuple of str
        Slice order (default 1, 2, …, 18).
    settings : Settings
        Analysis and optimiser settings (hop, learning rate, pooled windows,
        level …); see :data:`EVALUATION_SETTINGS`.
    """

    n_slices: int = len(SLICE_NAMES)
    order: tuple = SLICE_NAMES
    settings: Settings = EVALUATION_SETTINGS
    kind: ClassVar[str] = "seed"

    def __post_init__(self):
        if not 1 <= self.n_slices <= len(self.order):
            raise VsepError(f"The seed method's N must be from 1 to {len(self.order)}, got {self.n_slices}.")

    @property
    def name(self) -> str:
        return progressive_name(self.n_slices, self.order)

    @property
    def description(self) -> str:
        return f"Fingerprint EQ, progressive run over {self.n_slices} slice(s) then the polish"

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = _check_mixture(mixture, sr, self.settings.n_fft)
        vocal = _check_vocal(vocal, mixture, self.name)
        pair = _engine_pair(mixture, vocal, sr, self.settings)
        slices = tuple(self.order[: self.n_slices])
        analysis = _analysis_for(pair, self.settings, (RAW, *slices))
        chain = run_chain(analysis, slices)
        return _separation_from_db(chain.final_db, analysis, mixture, pair,
                                   {"slices": list(slices), "loss": chain.final_loss})


def progressive_name(n_slices: int, order=SLICE_NAMES) -> str:
    """The evaluation name of the progressive run over ``order[:n_slices]``.

    ``"seed_progressive"`` for the research code's run (all 18 slices in the
    default order), ``"seed_progressive_N"`` otherwise; the same name in
    ``evaluate --methods`` and in :func:`vsep_core.evaluate.evaluate_experiment`.
    """
    if n_slices == len(SLICE_NAMES) and tuple(order) == SLICE_NAMES:
        return "seed_progressive"
    return f"seed_progressive_{n_slices}"


#: Greedy searches of recent pairs, so that "seed_greedy" and "seed_greedy_best"
#: in one evaluation search once.
_GREEDY_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_GREEDY_CACHE_SIZE = 4
#: The last analysis made for a seed method, so that "seed_progressive" and the greedy search over the
#: same slices in one evaluation fingerprint the pair once (~1 s of a 3-minute song's evaluation).
_ANALYSIS_CACHE: "OrderedDict[tuple, Analysis]" = OrderedDict()
_ANALYSIS_CACHE_SIZE = 1
_ANALYSIS_LOCK = threading.Lock()


def _pair_key(pair: Pair, settings: Settings) -> tuple:
    return (hashlib.sha1(pair.mixture.tobytes()).hexdigest(), hashlib.sha1(pair.vocal.tobytes()).hexdigest(),
            pair.sr, settings)


def _analysis_for(pair: Pair, settings: Settings, views: tuple):
    """:func:`vsep_core.analysis.analyse` of ``pair`` for ``views``, the last one kept (read-only after)."""
    key = (*_pair_key(pair, settings), tuple(views))
    with _ANALYSIS_LOCK:
        if key in _ANALYSIS_CACHE:
            return _ANALYSIS_CACHE[key]
    analysis = analyse(pair, settings, views=tuple(views))
    with _ANALYSIS_LOCK:
        _ANALYSIS_CACHE[key] = analysis
        while len(_ANALYSIS_CACHE) > _ANALYSIS_CACHE_SIZE:
            _ANALYSIS_CACHE.popitem(last=False)
    return analysis


def _greedy_for(pair: Pair, settings: Settings, candidates=SLICE_NAMES):
    candidates = tuple(candidates)
    key = (*_pair_key(pair, settings), candidates)
    if key in _GREEDY_CACHE:
        _GREEDY_CACHE.move_to_end(key)
        return _GREEDY_CACHE[key]
    analysis = _analysis_for(pair, settings, (RAW, *candidates))
    result = (analysis, greedy_search(analysis, candidates))
    _GREEDY_CACHE[key] = result
    while len(_GREEDY_CACHE) > _GREEDY_CACHE_SIZE:
        _GREEDY_CACHE.popitem(last=False)
    return result


@dataclass(frozen=True)
class SeedGreedy:
    """The seed method with the greedy search's order.

    Parameters
    ----------
    prefix : {"full", "best"}
        ``"full"``: the whole sequence, as the research code reports it;
        ``"best"``: the prefix with the lowest loss over all steps.
    settings : Settings
    candidates : tuple of str
        The slices the search orders (default all 18; ``run --slices N``
        orders the first N of its order).
    """

    prefix: str = "full"
    settings: Settings = EVALUATION_SETTINGS
    candidates: tuple = SLICE_NAMES
    kind: ClassVar[str] = "seed"

    def __post_init__(self):
        if self.prefix not in ("full", "best"):
            raise VsepError(f"prefix must be 'full' or 'best', got {self.prefix!r}.")
        if not self.candidates:
            raise VsepError("The greedy search needs at least one slice to order.")

    @property
    def name(self) -> str:
        return "seed_greedy" if self.prefix == "full" else "seed_greedy_best"

    @property
    def description(self) -> str:
        if self.prefix == "full":
            return "Fingerprint EQ, greedy slice order (full sequence, as the research code reports)"
        return "Fingerprint EQ, greedy slice order (best prefix over all steps)"

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = _check_mixture(mixture, sr, self.settings.n_fft)
        vocal = _check_vocal(vocal, mixture, self.name)
        pair = _engine_pair(mixture, vocal, sr, self.settings)
        analysis, greedy = _greedy_for(pair, self.settings, self.candidates)
        slices = greedy.sequence if self.prefix == "full" else greedy.best_prefix
        chain = run_chain(analysis, slices)
        return _separation_from_db(chain.final_db, analysis, mixture, pair,
                                   {"slices": list(slices), "loss": chain.final_loss,
                                    "greedy_loss": greedy.loss, "best_prefix_loss": greedy.best_prefix_loss})


@dataclass(frozen=True)
class JointMatching:
    """The fingerprint method with every window's EQ learned at once (see :mod:`vsep_core.joint`).

    Parameters
    ----------
    settings : Settings
        Analysis settings and the level the engine sees.
    joint : JointSettings
        Adam's steps and step size, the views in the loss with their weights, an optional clip.
    """

    settings: Settings = EVALUATION_SETTINGS
    joint: JointSettings = field(default_factory=JointSettings)
    name: ClassVar[str] = "joint"
    kind: ClassVar[str] = "seed"

    @property
    def description(self) -> str:
        views = ", ".join(f"{name} ×{weight:g}" for name, weight in self.joint.views)
        return (f"Fingerprint EQ learned jointly through the round trip (Adam, {self.joint.steps} steps; "
                f"loss over {views})")

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = _check_mixture(mixture, sr, self.settings.n_fft)
        vocal = _check_vocal(vocal, mixture, self.name)
        pair = _engine_pair(mixture, vocal, sr, self.settings)
        analysis = analyse(pair, self.settings, views=(RAW, *self.joint.view_names))
        result = run_joint(analysis, self.joint)
        return _separation_from_db(result.final_db, analysis, mixture, pair,
                                   {"views": [list(v) for v in self.joint.views], "loss": result.final_loss,
                                    "steps": self.joint.steps, "step_size": self.joint.step_size,
                                    "clip_db": self.joint.clip_db})


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
        raise VsepError(f"The targets have shape {target_db.shape}; expected "
                        f"({settings.n_points}, {mixture_db.shape[1]}).")
    gap = target_db - working_profiles(mixture_db, settings)
    return (mixture_db + interp_map(settings.n_points, mixture_db.shape[0])(gap)).astype(np.float32)


@dataclass(frozen=True)
class ExactEQ:
    """The exact 400-band EQ: the seed method's ceiling (see :func:`exact_eq_db`)."""

    settings: Settings = EVALUATION_SETTINGS
    name: ClassVar[str] = "exact_eq"
    kind: ClassVar[str] = "oracle"
    description: ClassVar[str] = "Exact 400-band EQ: each window set to the vocal's profile (the method's ceiling)"

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = _check_mixture(mixture, sr, self.settings.n_fft)
        vocal = _check_vocal(vocal, mixture, self.name)
        pair = _engine_pair(mixture, vocal, sr, self.settings)
        analysis = analyse(pair, self.settings, views=(RAW,))
        final_db = exact_eq_db(analysis.mixture_db, analysis.targets[RAW], self.settings)
        return _separation_from_db(final_db, analysis, mixture, pair, {})


# --- ideal masks ----------------------------------------------------------------

#: Ideal masks: name → (description, mask of the vocal from |V| and |A|).
_MASKS = {
    "irm": ("Ideal ratio mask |V| / (|V| + |A|)",
            lambda v, a: v / np.maximum(v + a, np.finfo(np.float32).tiny)),
    "ibm": ("Ideal binary mask |V| > |A|",
            lambda v, a: (v > a).astype(np.float32)),
    "wiener": ("Ideal Wiener-style mask |V|² / (|V|² + |A|²)",
               lambda v, a: v * v / np.maximum(v * v + a * a, np.finfo(np.float32).tiny)),
}


def _stft(y, n_fft, hop_length):
    return dsp.stft(y, n_fft=n_fft, hop_length=hop_length)  # librosa.stft's values, to the bit


def _istft(D, n_fft, hop_length, length):
    return dsp.istft(D, n_fft=n_fft, hop_length=hop_length, length=length).astype(np.float32, copy=False)


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
        _check_stft(self.n_fft, self.hop_length)

    @property
    def name(self) -> str:
        return self.mask

    @property
    def description(self) -> str:
        return _MASKS[self.mask][0]

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        mixture = _check_mixture(mixture, sr, self.n_fft)
        vocal = _check_vocal(vocal, mixture, self.name)
        mix_stft = _stft(mixture, self.n_fft, self.hop_length)
        voc_mag = np.abs(_stft(vocal, self.n_fft, self.hop_length))
        acc_mag = np.abs(_stft(mixture - vocal, self.n_fft, self.hop_length))
        mask = _MASKS[self.mask][1](voc_mag, acc_mag)
        n = len(mixture)
        return Separation(vocal=_istft(mask * mix_stft, self.n_fft, self.hop_length, n),
                          instrumental=_istft((1.0 - mask) * mix_stft, self.n_fft, self.hop_length, n),
                          info={"n_fft": self.n_fft, "hop_length": self.hop_length})


def _check_stft(n_fft, hop_length):
    if not (isinstance(n_fft, int) and 16 <= n_fft <= 65536):
        raise VsepError(f"n_fft must be a whole number from 16 to 65536, got {n_fft!r}.")
    if not (isinstance(hop_length, int) and 1 <= hop_length <= n_fft):
        raise VsepError(f"hop_length must be a whole number from 1 to n_fft ({n_fft}), got {hop_length!r}.")


# --- blind baselines --------------------------------------------------------------

#: sklearn's default ``working_memory`` (MiB): how librosa's neighbour search (sklearn's
#: brute-force ``NearestNeighbors``) splits the distance matrix into chunks of rows.
_KNN_WORKING_MEMORY_MIB = 1024

#: Frames per block in the neighbour search and the median (bounds the temporaries to tens of MB).
_FRAME_BLOCK = 256
_MEDIAN_BLOCK = 16


def _cosine_neighbours(data: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Each frame's ``n_neighbors`` nearest other frames by cosine distance, as sklearn finds them.

    The arithmetic of ``sklearn.neighbors.NearestNeighbors(metric="cosine").kneighbors()``
    (what ``librosa.segment.recurrence_matrix`` calls) step by step: rows scaled to unit
    norm in float32, one ``X @ X.T`` product per chunk of rows (the chunks sklearn's
    working memory gives), ``clip(1 − S, 0, 2)``, the diagonal zeroed when there is one
    chunk, ``argpartition`` per row, and the frame itself dropped (or, when it is not
    among the nearest, the nearest one, as sklearn does). Same numbers, same ties, so the
    same neighbours; the time goes into one matrix product instead of Python loops.

    Parameters
    ----------
    data : np.ndarray [shape=(t, d), dtype=float32, C-contiguous]
    n_neighbors : int
        ``< t``.

    Returns
    -------
    np.ndarray [shape=(t, n_neighbors), dtype=int64]
        Neighbour indices per frame, in no particular order.
    """
    t = len(data)
    unit = data.copy()
    norms = np.sqrt(np.einsum("ij,ij->i", unit, unit))
    norms[norms < 10 * np.finfo(norms.dtype).eps] = 1.0
    unit /= norms[:, None]
    wanted = n_neighbors + 1  # the query set is the training set: one more, then the frame itself goes
    chunk = max(1, min(t, int(_KNN_WORKING_MEMORY_MIB * 2 ** 20 // (8 * t))))
    neighbours = np.empty((t, n_neighbors), dtype=np.int64)
    for chunk_start in range(0, t, chunk):  # one chunk up to ~11 600 frames (4.5 min at hop 512)
        chunk_stop = min(chunk_start + chunk, t)
        whole = chunk_start == 0 and chunk_stop == t
        # The same product as sklearn's: with one chunk, X @ X.T of one array (numpy may use syrk).
        dist = unit @ unit.T if whole else unit[chunk_start:chunk_stop] @ unit.T
        dist *= -1
        dist += 1
        np.clip(dist, 0.0, 2.0, out=dist)
        if whole:
            np.fill_diagonal(dist, 0.0)
        for start in range(0, chunk_stop - chunk_start, _FRAME_BLOCK):
            block = dist[start:start + _FRAME_BLOCK]
            rows = np.arange(chunk_start + start, chunk_start + start + len(block))
            nearest = np.argpartition(block, wanted - 1, axis=1)[:, :wanted]
            keep = nearest != rows[:, None]
            lost = np.flatnonzero(keep.all(axis=1))
            if len(lost):  # the frame is not among its nearest: sklearn drops the closest instead
                picked = nearest[lost]
                order = np.argsort(block[lost[:, None], picked], axis=1)
                closest = picked[np.arange(len(lost)), order[:, 0]]
                keep[lost] &= picked != closest[:, None]
            neighbours[rows] = nearest[keep].reshape(len(block), n_neighbors)
        del dist
    return neighbours


def _repet_neighbours(mag: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The frames REPET-SIM takes the median over, exactly as ``librosa.decompose.nn_filter``.

    ``librosa.segment.recurrence_matrix(mag, metric="cosine", width=width)`` with its
    defaults (``k = 2·⌈√(t − 2·width + 1)⌉``, connectivity mode, not symmetric): the
    ``k + 2·width`` nearest frames, less those closer than ``width`` in time; of the
    rest it keeps the first ``k`` in the order ``np.argsort`` gives a row of equal
    connectivity weights (so, as librosa does, by frame index rather than by distance).

    Returns
    -------
    kept : np.ndarray [shape=(t, k), dtype=int64]
        The kept frames of each frame, first ``counts[i]`` entries valid.
    counts : np.ndarray [shape=(t,), dtype=int64]
    """
    t = mag.shape[1]
    k = int(2 * np.ceil(np.sqrt(t - 2 * width + 1)))
    data = np.ascontiguousarray(mag.T)
    candidates = _cosine_neighbours(data, min(t - 1, k + 2 * width))
    frames = np.arange(t)[:, None]
    valid = np.abs(candidates - frames) >= width
    links = np.sort(np.where(valid, candidates, t), axis=1)  # valid frames first, ascending
    n_links = valid.sum(axis=1)
    kept = np.zeros((t, k), dtype=np.int64)
    for n in np.unique(n_links):  # a few distinct lengths (rows near the ends lose fewer frames)
        rows = np.flatnonzero(n_links == n)
        order = np.argsort(np.ones((1, n)))[0][:k]  # librosa sorts the links' equal weights
        kept[rows, :len(order)] = links[rows][:, order]
    return kept, np.minimum(n_links, k)


@numba.njit(cache=True, nogil=True)
def _gather_neighbours(frames_major, kept, rows, count, out):  # pragma: no cover - compiled
    """``out[r, b, c] = frames_major[kept[rows[r], c], b]``: each frame's neighbours, bins-major."""
    for r in range(rows.shape[0]):
        for c in range(count):
            source = frames_major[kept[rows[r], c]]
            for b in range(source.shape[0]):
                out[r, b, c] = source[b]


@numba.njit(cache=True, nogil=True)
def _middle_of_partitioned(values, count, out):  # pragma: no cover - compiled
    """np.median of each row of ``values[..., :count]`` once partitioned at ``count // 2``.

    The upper middle is in place; the lower middle (even counts) is the largest value
    left of it. Their mean is taken in float32, as ``np.median`` takes it.
    """
    mid = count // 2
    for r in range(values.shape[0]):
        for b in range(values.shape[1]):
            row = values[r, b]
            upper = row[mid]
            if count % 2:
                out[r, b] = upper
            else:
                lower = row[0]
                for c in range(1, mid):
                    if row[c] > lower:
                        lower = row[c]
                out[r, b] = (lower + upper) * np.float32(0.5)


def _neighbour_median(mag: np.ndarray, kept: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per frame and bin, ``np.median`` of ``mag`` over the frame's kept neighbours.

    For each block of frames the neighbours' values are laid out bins-major, one
    ``np.partition`` (numpy's vectorised selection) finds the upper middle value, and the
    lower middle and the float32 mean follow as ``np.median`` computes them, so the result
    is ``np.median``'s to the bit. A frame without neighbours keeps its own values (librosa).

    Parameters
    ----------
    mag : np.ndarray [shape=(bins, t), dtype=float32]
    kept, counts : from :func:`_repet_neighbours`

    Returns
    -------
    np.ndarray [shape=(bins, t), dtype=float32]
    """
    frames_major = np.ascontiguousarray(mag.T, dtype=np.float32)  # (t, bins): a neighbour is one row
    out = frames_major.copy()

    def median_rows(rows: np.ndarray, count: int) -> None:
        values = np.empty((len(rows), frames_major.shape[1], count), dtype=np.float32)
        _gather_neighbours(frames_major, kept, rows, count, values)
        values.partition(count // 2, axis=-1)
        medians = np.empty(values.shape[:2], dtype=np.float32)
        _middle_of_partitioned(values, count, medians)
        out[rows] = medians

    jobs = []
    for count in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == count)
        jobs.extend((rows[i:i + _MEDIAN_BLOCK], int(count)) for i in range(0, len(rows), _MEDIAN_BLOCK))
    # The compiled loops and numpy's partition release the GIL: two threads share the work.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda job: median_rows(*job), jobs))
    return np.ascontiguousarray(out.T)


def _repet_background(mag: np.ndarray, width: int) -> np.ndarray:
    """``librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine", width=width)``, exactly.

    Parameters
    ----------
    mag : np.ndarray [shape=(bins, t), dtype=float32]
    width : int
        ``1 <= width < (t − 1) // 2``.

    Returns
    -------
    np.ndarray [shape=(bins, t), dtype=float32]
    """
    return _neighbour_median(mag, *_repet_neighbours(mag, width))


def _median_filter_along(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size=…, mode="reflect")`` of a 2-D array along one axis.

    ``size`` points along ``axis``, one along the other. scipy's n-dimensional rank filter
    collects and selects every window anew; its 1-D path slides one window along (about ten
    times faster here). The lines along ``axis``, each extended by its own reflection
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
    filtered = filtered.reshape(extended.shape)[:, before:before + n]
    return np.ascontiguousarray(filtered if axis in (1, -1) else filtered.T)


def _hpss_masks(mag: np.ndarray, kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``librosa.decompose.hpss(mag, kernel_size=kernel_size, mask=True)``, with faster medians.

    The harmonic part is the median over ``kernel_size`` frames, the percussive part over
    ``kernel_size`` bins (both :func:`_median_filter_along`, equal to librosa's
    ``scipy.ndimage.median_filter`` calls); the soft masks are librosa's own, with
    hpss's defaults (margins 1, power 2).
    """
    import librosa

    harmonic = _median_filter_along(mag, kernel_size, axis=1)
    percussive = _median_filter_along(mag, kernel_size, axis=0)
    margin = 1.0
    mask_harmonic = librosa.util.softmask(harmonic, percussive * margin, power=2.0, split_zeros=True)
    mask_percussive = librosa.util.softmask(percussive, harmonic * margin, power=2.0, split_zeros=True)
    return mask_harmonic, mask_percussive


@dataclass(frozen=True)
class RepetSim:
    """REPET-SIM, as in librosa's vocal separation example.

    The background is each frame's median over its most similar frames
    (``librosa.decompose.nn_filter``, cosine distance, frames at least
    ``min_distance_s`` apart), clipped to the mixture; soft masks with
    margins 2 (background) and 10 (foreground) and power 2 split the
    mixture (Rafii & Pardo, "Music/voice separation using the similarity
    matrix", ISMIR 2012).

    Parameters
    ----------
    n_fft, hop_length : int
        2048 / 512, librosa's defaults.
    min_distance_s : float
        Shortest time between frames that may be averaged (2 s). Clips too
        short for it use the largest distance librosa allows.
    margin_background, margin_vocal, power : float
    """

    n_fft: int = 2048
    hop_length: int = 512
    min_distance_s: float = 2.0
    margin_background: float = 2.0
    margin_vocal: float = 10.0
    power: float = 2.0
    name: ClassVar[str] = "repet_sim"
    kind: ClassVar[str] = "blind"
    description: ClassVar[str] = "REPET-SIM: nearest-neighbour median background, soft masks (blind)"
    suited_targets: ClassVar[tuple] = ("vocals",)
    unsuited_note: ClassVar[str] = ("REPET-SIM's estimate is the non-repeating foreground (a voice over a "
                                    "repeating band), not a blind estimate of this stem")

    def __post_init__(self):
        _check_stft(self.n_fft, self.hop_length)

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        import librosa

        _refuse_vocal(vocal, self.name)
        mixture = _check_mixture(mixture, sr, self.n_fft)
        mix_stft = _stft(mixture, self.n_fft, self.hop_length)
        mag = np.abs(mix_stft)
        n_frames = mag.shape[1]
        # librosa requires width < (frames − 1) // 2.
        width = min(int(librosa.time_to_frames(self.min_distance_s, sr=sr, hop_length=self.hop_length)),
                    (n_frames - 1) // 2 - 1)
        if width < 1:
            raise VsepError(f"REPET-SIM needs at least 5 STFT frames; the mixture has {n_frames} "
                            f"({len(mixture) / sr:.2f} s).")
        background = _repet_background(mag, width)
        background = np.minimum(mag, background)
        foreground = mag - background
        mask_bg = librosa.util.softmask(background, self.margin_background * foreground, power=self.power)
        mask_fg = librosa.util.softmask(foreground, self.margin_vocal * background, power=self.power)
        n = len(mixture)
        return Separation(vocal=_istft(mask_fg * mix_stft, self.n_fft, self.hop_length, n),
                          instrumental=_istft(mask_bg * mix_stft, self.n_fft, self.hop_length, n),
                          info={"width_frames": width})


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
    unsuited_note: ClassVar[str] = ("two-stage HPSS keeps what fluctuates (a singing voice's partials); "
                                    "it is not a blind estimate of this stem")

    def __post_init__(self):
        _check_stft(self.n_fft_long, self.n_fft_long // 4)
        _check_stft(self.n_fft_short, self.n_fft_short // 4)

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        _refuse_vocal(vocal, self.name)
        mixture = _check_mixture(mixture, sr, self.n_fft_short)
        n = len(mixture)
        rest = mixture
        for n_fft, keep in ((self.n_fft_long, "percussive"), (self.n_fft_short, "harmonic")):
            hop = n_fft // 4
            D = _stft(rest, n_fft, hop)
            # = librosa.decompose.hpss(np.abs(D), kernel_size=self.kernel_size, mask=True), exactly
            harmonic, percussive = _hpss_masks(np.abs(D), self.kernel_size)
            rest = _istft((percussive if keep == "percussive" else harmonic) * D, n_fft, hop, n)
        return Separation(vocal=rest, instrumental=(mixture - rest).astype(np.float32), info={})


@dataclass(frozen=True)
class PercussiveHPSS:
    """One-stage HPSS's percussive part as the estimate: a fair blind baseline for drums only.

    Median filtering across frequency (``kernel_size`` bins) keeps what is
    short in time and broad in frequency — hits; librosa's soft masks (margin
    1, power 2), as :func:`_hpss_masks`. The complement is the mixture minus
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
        _check_stft(self.n_fft, self.hop_length)

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        _refuse_vocal(vocal, self.name)
        mixture = _check_mixture(mixture, sr, self.n_fft)
        n = len(mixture)
        D = _stft(mixture, self.n_fft, self.hop_length)
        _, percussive = _hpss_masks(np.abs(D), self.kernel_size)
        drums = _istft(percussive * D, self.n_fft, self.hop_length, n)
        return Separation(vocal=drums, instrumental=(mixture - drums).astype(np.float32), info={})


@dataclass(frozen=True)
class MixtureAsEstimate:
    """The floor: the mixture itself as both the vocal and the instrumental estimate."""

    name: ClassVar[str] = "mixture"
    kind: ClassVar[str] = "blind"
    description: ClassVar[str] = "The mixture itself as both estimates (the floor)"

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        _refuse_vocal(vocal, self.name)
        mixture = _check_mixture(mixture, sr, 1)
        return Separation(vocal=mixture.copy(), instrumental=mixture.copy(), info={})


# --- registry -------------------------------------------------------------------

#: Every method by name → a factory taking the engine settings and the slices
#: the seed methods use (the order, and its first ``--slices`` for N and the greedy candidates).
METHODS: "OrderedDict[str, Callable[..., Separator]]" = OrderedDict([
    ("seed_progressive", lambda settings, order, used, joint: SeedProgressive(len(used), order, settings)),
    ("seed_greedy", lambda settings, order, used, joint: SeedGreedy("full", settings, used)),
    ("seed_greedy_best", lambda settings, order, used, joint: SeedGreedy("best", settings, used)),
    ("joint", lambda settings, order, used, joint: JointMatching(settings, joint or JointSettings())),
    ("exact_eq", lambda settings, order, used, joint: ExactEQ(settings=settings)),
    ("irm", lambda settings, order, used, joint: IdealMask("irm")),
    ("ibm", lambda settings, order, used, joint: IdealMask("ibm")),
    ("wiener", lambda settings, order, used, joint: IdealMask("wiener")),
    ("repet_sim", lambda settings, order, used, joint: RepetSim()),
    ("hpss", lambda settings, order, used, joint: TwoStageHPSS()),
    ("hpss_percussive", lambda settings, order, used, joint: PercussiveHPSS()),
    ("learned_fingerprint", lambda settings, order, used, joint: __import__("learned", globals(), None, ["_"], 1).LearnedFingerprint(settings)),  # noqa: E501 (vsep_core/learned.py, blind)
    ("mixture", lambda settings, order, used, joint: MixtureAsEstimate()),
])

#: Methods that "all" lists only for targets other than the vocal: the vocal's list (and every figure
#: in it) stays what it always was; for other targets the drums baseline sits beside the rest.
_NOT_IN_ALL_FOR_VOCALS = ("hpss_percussive",)

_PROGRESSIVE_N = re.compile(r"^seed_progressive_(\d+)$")


def method_names(target_name: str | None = None) -> list[str]:
    """The method names ``"all"`` stands for with this target (default the vocal), in table order.

    Every method runs for any target; this only decides the default list.
    """
    from .stems import DEFAULT_TARGET, target_name as canonical

    if canonical(target_name) == DEFAULT_TARGET:
        return [name for name in METHODS if name not in _NOT_IN_ALL_FOR_VOCALS]
    return list(METHODS)


def get_method(name: str, settings: Settings | None = None, *, order=None,
               max_slices: int | None = None, joint: JointSettings | None = None) -> Separator:
    """Build a method by name.

    Parameters
    ----------
    name : str
        A key of :data:`METHODS`, or ``"seed_progressive_N"`` for the
        progressive run over the first N slices of ``order``.
    settings : Settings, optional
        Engine settings for the seed and exact-EQ methods
        (:data:`EVALUATION_SETTINGS` if omitted).
    order, max_slices : optional
        As ``run --order`` and ``--slices``: the seed methods' slice order;
        ``seed_progressive`` runs over ``order[:max_slices]`` and the greedy
        methods order those slices (see :func:`vsep_core.experiment.resolve_order`).
    joint : JointSettings, optional
        The ``joint`` method's optimiser settings (default :class:`JointSettings`).

    Raises
    ------
    VsepError
        For an unknown name.
    """
    settings = settings or EVALUATION_SETTINGS
    order, used = resolve_order(order, max_slices)
    key = str(name).strip().lower()
    if key in METHODS:
        return METHODS[key](settings, order, used, joint)
    match = _PROGRESSIVE_N.match(key)
    if match:
        return SeedProgressive(n_slices=int(match.group(1)), order=order, settings=settings)
    raise VsepError(f"Unknown method {name!r}. Methods: {', '.join(METHODS)}, or seed_progressive_N "
                    f"for N = 1 … {len(order)}.")


def resolve_methods(names, settings: Settings | None = None, *, order=None,
                    max_slices: int | None = None, joint: JointSettings | None = None,
                    target_name: str | None = None) -> list[Separator]:
    """Methods for a list of names (``"all"`` = :func:`method_names` for the target; commas split names).

    ``order``, ``max_slices`` and ``joint`` as in :func:`get_method`;
    ``target_name`` (default the vocal) only decides what ``"all"`` means.

    Raises
    ------
    VsepError
        For an unknown name or a method listed twice.
    """
    keys = []
    for item in names or ["all"]:
        keys.extend(part.strip() for part in str(item).split(",") if part.strip())
    if not keys or keys == ["all"]:
        keys = method_names(target_name)
    methods = [get_method(key, settings, order=order, max_slices=max_slices, joint=joint) for key in keys]
    seen = set()
    for m in methods:
        if m.name in seen:
            raise VsepError(f"Method {m.name} is listed twice.")
        seen.add(m.name)
    return methods
