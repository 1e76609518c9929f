"""Separation methods behind one small interface, for evaluation.

Every method takes the mixture (and, unless it is blind, the true vocal) and
returns a vocal and an instrumental estimate on the mixture's scale, never
peak-normalised, so an evaluation loop treats the seed method, its ceilings
and its floors alike (as nussl's benchmark separators do).

Kinds:

``"seed"``
    The fingerprint-EQ method itself: progressive runs over N slices, and
    the greedy ordering search. It needs the true vocal (its fingerprints).
``"oracle"``
    Ceilings that read the true vocal: the method's exact 400-band EQ (each
    window's EQ set to the full gap, no iterations, no clipping), and the
    ideal ratio, binary and Wiener-style masks.
``"blind"``
    Methods that never see the vocal: REPET-SIM, a two-stage HPSS, and the
    mixture itself as the estimate (the floor).

Use :func:`get_method` to build one by name and :func:`run_method` to run
it; ``run_method`` is what guarantees that a blind method never receives the
vocal.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Protocol, runtime_checkable

import numpy as np

from . import dsp
from .analysis import analyse
from .audio import Pair, check_signal, normalise_levels, to_true_scale
from .errors import VsepError
from .experiment import resolve_order
from .fingerprint import interp_map
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
    mix_out, voc_out, mix_gain, voc_gain = normalise_levels(mixture, vocal, settings.level)
    return Pair(mixture=mix_out, vocal=voc_out, sr=sr,
                info={"level": settings.level, "mixture_gain": mix_gain, "vocal_gain": voc_gain})


def _separation_from_db(final_db, analysis, mixture, engine_pair: Pair, info) -> Separation:
    vocal_raw = to_true_scale(vocal_from_db(np.asarray(final_db, dtype=np.float32), analysis), engine_pair)
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
        analysis = analyse(pair, self.settings, views=(RAW, *slices))
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


def _greedy_for(pair: Pair, settings: Settings, candidates=SLICE_NAMES):
    candidates = tuple(candidates)
    key = (hashlib.sha1(pair.mixture.tobytes()).hexdigest(), hashlib.sha1(pair.vocal.tobytes()).hexdigest(),
           pair.sr, settings, candidates)
    if key in _GREEDY_CACHE:
        _GREEDY_CACHE.move_to_end(key)
        return _GREEDY_CACHE[key]
    analysis = analyse(pair, settings, views=(RAW, *candidates))
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
        background = librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine", width=width)
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

    def __post_init__(self):
        _check_stft(self.n_fft_long, self.n_fft_long // 4)
        _check_stft(self.n_fft_short, self.n_fft_short // 4)

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        import librosa

        _refuse_vocal(vocal, self.name)
        mixture = _check_mixture(mixture, sr, self.n_fft_short)
        n = len(mixture)
        rest = mixture
        for n_fft, keep in ((self.n_fft_long, "percussive"), (self.n_fft_short, "harmonic")):
            hop = n_fft // 4
            D = _stft(rest, n_fft, hop)
            harmonic, percussive = librosa.decompose.hpss(np.abs(D), kernel_size=self.kernel_size, mask=True)
            rest = _istft((percussive if keep == "percussive" else harmonic) * D, n_fft, hop, n)
        return Separation(vocal=rest, instrumental=(mixture - rest).astype(np.float32), info={})


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
    ("seed_progressive", lambda settings, order, used: SeedProgressive(len(used), order, settings)),
    ("seed_greedy", lambda settings, order, used: SeedGreedy("full", settings, used)),
    ("seed_greedy_best", lambda settings, order, used: SeedGreedy("best", settings, used)),
    ("exact_eq", lambda settings, order, used: ExactEQ(settings=settings)),
    ("irm", lambda settings, order, used: IdealMask("irm")),
    ("ibm", lambda settings, order, used: IdealMask("ibm")),
    ("wiener", lambda settings, order, used: IdealMask("wiener")),
    ("repet_sim", lambda settings, order, used: RepetSim()),
    ("hpss", lambda settings, order, used: TwoStageHPSS()),
    ("mixture", lambda settings, order, used: MixtureAsEstimate()),
])

_PROGRESSIVE_N = re.compile(r"^seed_progressive_(\d+)$")


def method_names() -> list[str]:
    """The registered method names, in table order."""
    return list(METHODS)


def get_method(name: str, settings: Settings | None = None, *, order=None,
               max_slices: int | None = None) -> Separator:
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

    Raises
    ------
    VsepError
        For an unknown name.
    """
    settings = settings or EVALUATION_SETTINGS
    order, used = resolve_order(order, max_slices)
    key = str(name).strip().lower()
    if key in METHODS:
        return METHODS[key](settings, order, used)
    match = _PROGRESSIVE_N.match(key)
    if match:
        return SeedProgressive(n_slices=int(match.group(1)), order=order, settings=settings)
    raise VsepError(f"Unknown method {name!r}. Methods: {', '.join(METHODS)}, or seed_progressive_N "
                    f"for N = 1 … {len(order)}.")


def resolve_methods(names, settings: Settings | None = None, *, order=None,
                    max_slices: int | None = None) -> list[Separator]:
    """Methods for a list of names (``"all"`` = every registered method; commas split names).

    ``order`` and ``max_slices`` as in :func:`get_method`.

    Raises
    ------
    VsepError
        For an unknown name or a method listed twice.
    """
    keys = []
    for item in names or ["all"]:
        keys.extend(part.strip() for part in str(item).split(",") if part.strip())
    if not keys or keys == ["all"]:
        keys = method_names()
    methods = [get_method(key, settings, order=order, max_slices=max_slices) for key in keys]
    seen = set()
    for m in methods:
        if m.name in seen:
            raise VsepError(f"Method {m.name} is listed twice.")
        seen.add(m.name)
    return methods
