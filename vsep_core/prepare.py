"""Preparing a pair for the engine: mono, the segment, the analysis rate, the levels (spec §1).

Preparation follows the research code's prepare step: decode, mix to mono by
averaging channels, keep a segment, resample to 22050 Hz and peak-normalise.
Cropping happens at the file's own rate before resampling, as
``librosa.load(path, sr=..., offset=..., duration=...)`` does, so
seed-compatible loading gives exactly the research code's samples. Scores
bring estimates back to the files' true scale (:func:`to_true_scale`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .decode import Decoded, _decode, _Input, _input, _limit, _minutes, _probe, _refuse_start, duration_limit_s, to_mono
from .errors import VsepError
from .limits import (  # the input limits live in vsep_core.limits (applied here)
    KEEP_AUDIO_SHARE,
    MAX_SEGMENT_S,
)
from .settings import Settings
from .validation import _check_lengths, _check_something_to_separate, check_signal

#: Added to the peak before dividing, as the research code does.
NORMALISE_EPS = 1e-8


def segment_limit_s(value: float | None = None) -> float:
    """The analysed-segment limit in seconds: ``value``, else ``$VSEP_MAX_SEGMENT_S``, else :data:`MAX_SEGMENT_S`."""
    return _limit(value, "VSEP_MAX_SEGMENT_S", MAX_SEGMENT_S)


@dataclass(frozen=True)
class Pair:
    """A prepared (mixture, vocal) pair, ready for analysis.

    Attributes
    ----------
    mixture, vocal : np.ndarray [shape=(n,), dtype=float32]
        Mono, at ``sr``, peak-normalised as the settings say, same length.
    sr : int
    info : dict
        Where they came from and what was done (gains, trims, target mode).
    """

    mixture: np.ndarray
    vocal: np.ndarray
    sr: int
    info: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return len(self.mixture)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sr


# --- reading what the user gave -------------------------------------------------------


def segment(decoded: Decoded, settings: Settings) -> np.ndarray:
    """Mono samples of the settings' segment of a whole decoded file, at the analysis sample rate.

    The segment is cut at the file's own rate and then resampled with
    soxr (high quality), in that order, as ``librosa.load`` does.

    Raises
    ------
    VsepError
        When the segment starts after the end of the file.
    """
    y = to_mono(decoded.samples)
    start = int(settings.start_s * decoded.sr)
    if start >= len(y):
        _refuse_start(decoded.name, decoded.duration_s, settings.start_s)
    stop = len(y) if settings.duration_s is None else start + int(settings.duration_s * decoded.sr)
    return _resampled(y[start:stop], decoded.sr, settings)


def _resampled(y: np.ndarray, sr: int, settings: Settings) -> np.ndarray:
    """``y`` (mono, cut) at the analysis rate: ``librosa.resample(res_type="soxr_hq")`` to the bit.

    Its steps written out (soxr, then trimmed or zero-padded to
    ``ceil(n · ratio)`` samples) so that preparing a pair does not import
    librosa (its import is large and slow), which matters most for input refused later.
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    if sr != settings.sr:
        import soxr

        n_out = int(np.ceil(len(y) * (float(settings.sr) / sr)))
        resampled = soxr.resample(y, sr, settings.sr, quality="soxr_hq")
        y = np.zeros(n_out, dtype=np.float32)
        y[: min(n_out, len(resampled))] = resampled[:n_out]
    return y.astype(np.float32, copy=False)


def peak_normalise(y: np.ndarray) -> np.ndarray:
    """``y / (max|y| + 1e-8)``, as the research code does."""
    return y / (np.max(np.abs(y)) + NORMALISE_EPS)


def normalise_levels(mixture: np.ndarray, vocal: np.ndarray, level: str):
    """The one level normalisation: the pair as the engine sees it under ``level``.

    Parameters
    ----------
    mixture, vocal : np.ndarray [shape=(n,), dtype=float32]
        The pair at its true relative level (as decoded).
    level : {"independent", "common", "as_is"}
        ``"independent"``: each signal peak-normalised on its own (the research
        prepare step; the relative level is lost). ``"common"``: one gain from
        the larger peak. ``"as_is"``: unchanged.

    Returns
    -------
    mixture_out, vocal_out : np.ndarray [dtype=float32]
    mixture_gain, vocal_gain : float
        What each signal was multiplied by. :func:`to_true_scale` undoes the
        vocal's, which is the one an estimate is shaped toward.
    """
    if level == "independent":
        mix_gain = 1.0 / (float(np.max(np.abs(mixture))) + NORMALISE_EPS)
        voc_gain = 1.0 / (float(np.max(np.abs(vocal))) + NORMALISE_EPS)
        # Division, as the research code's peak_normalise (keeps the seed's samples bit for bit).
        mix_out, voc_out = peak_normalise(mixture), peak_normalise(vocal)
    elif level == "common":
        # One gain for both, from the larger peak, so neither exceeds full scale.
        peak = max(float(np.max(np.abs(mixture))), float(np.max(np.abs(vocal))))
        mix_gain = voc_gain = 1.0 / (peak + NORMALISE_EPS)
        mix_out = (mixture * np.float32(mix_gain)).astype(np.float32)
        voc_out = (vocal * np.float32(voc_gain)).astype(np.float32)
    elif level == "as_is":
        mix_gain = voc_gain = 1.0
        mix_out, voc_out = mixture, vocal
    else:
        raise VsepError(f"Unknown level {level!r}; levels are independent, common and as_is.")
    return (
        np.asarray(mix_out, dtype=np.float32),
        np.asarray(voc_out, dtype=np.float32),
        float(mix_gain),
        float(voc_gain),
    )


def engine_pair(truth: "Pair", level: str) -> "Pair":
    """``truth`` (a pair at its true scale) as the engine sees it under ``level``.

    What :func:`prepare_pair` gives for the same files at that level, made from
    the true-scale pair with :func:`normalise_levels`; ``info`` keeps the gains
    that :func:`to_true_scale` undoes.
    """
    mixture, vocal, mix_gain, voc_gain = normalise_levels(truth.mixture, truth.vocal, level)
    return Pair(
        mixture=mixture,
        vocal=vocal,
        sr=truth.sr,
        info={**truth.info, "level": level, "mixture_gain": mix_gain, "vocal_gain": voc_gain},
    )


def to_true_scale(vocal_estimate: np.ndarray, pair: "Pair") -> np.ndarray:
    """Bring a vocal estimate made on ``pair`` back to the files' true scale.

    The rule: undo exactly the normalisation applied to the signal the
    estimate was shaped toward. The method matches the *vocal's* fingerprint,
    so the estimate lives on the vocal's normalised scale and is divided by
    ``pair.info["vocal_gain"]`` (1 when the pair was not normalised). A
    perfect estimate (``pair.vocal`` itself) comes back as the true vocal at
    every level. The instrumental estimate is then ``true mixture − this``.
    """
    gain = float(pair.info.get("vocal_gain", 1.0))
    return (np.asarray(vocal_estimate, dtype=np.float32) / np.float32(gain)).astype(np.float32, copy=False)


class _Side:
    """One file of a pair before decoding: its header, or a :class:`Decoded` given by the caller."""

    def __init__(self, source, name: str, max_duration_s: float | None):
        if isinstance(source, Decoded):
            self.decoded, self.src, self.info = source, None, None
            self.name, self.sr = source.name, source.sr
            self.duration_s = source.source_duration_s or source.duration_s
        else:
            self.decoded = None
            self.src = _input(source, name)
            if self.src.name != name:  # a path: messages name the role, as they always did
                self.src = _Input(name=name, path=self.src.path, data=self.src.data)
            self.info = _probe(self.src, max_duration_s)
            self.name, self.sr, self.duration_s = name, self.info.sr, self.info.duration_s
        self.max_duration_s = max_duration_s

    @property
    def label(self) -> str:
        return self.decoded.name if self.decoded is not None else self.name

    def segment(self, settings: Settings) -> np.ndarray:
        if self.decoded is not None:
            return segment(self.decoded, settings)
        decoded = _decode(
            self.src,
            self.info,
            start_s=settings.start_s,
            duration_s=settings.duration_s,
            mono=True,
            limit=duration_limit_s(self.max_duration_s),
        )
        if decoded.source_duration_s is not None:
            self.duration_s = decoded.source_duration_s
        return _resampled(decoded.samples[0], decoded.sr, settings)


def check_workload(
    segment_s: float, settings: Settings, *, max_segment_s: float | None = None, keep_audio: bool = False
) -> None:
    """Refuse an analysis whose size (windows × bins) would take the process past its memory budget.

    The budget is :func:`segment_limit_s` seconds at the default STFT
    (hop 1040, n_fft 2048: 18 slices and the greedy search stay under
    1.5 GB); a smaller hop or a larger FFT makes the same seconds cost more.
    Keeping every run's audio (the HTML report, the dashboard's players)
    costs more per second: then the budget is :data:`KEEP_AUDIO_SHARE` of it.

    Raises
    ------
    VsepError
        Naming the limit and how to stay under it.
    """
    limit_s = segment_limit_s(max_segment_s) * (KEEP_AUDIO_SHARE if keep_audio else 1.0)
    default = Settings()
    budget = (1 + int(limit_s * default.sr) // default.hop_length) * (1 + default.n_fft // 2)
    n = int(segment_s * settings.sr)
    hop = settings.hop_for(max(n, 1))
    windows, bins = 1 + n // hop, 1 + settings.n_fft // 2
    if windows * bins > budget:
        kept = " with every run's audio kept (2/3 of VSEP_MAX_SEGMENT_S)" if keep_audio else " (VSEP_MAX_SEGMENT_S)"
        raise VsepError(
            f"Analysing {segment_s / 60:.1f} minutes ({windows:,} windows × {bins:,} bins at hop {hop}) needs more "
            f"memory than this machine allows: the limit is {_minutes(limit_s)} at the default hop "
            f"{default.hop_length}{kept}. Choose a shorter segment or a larger hop."
        )


def prepare_pair(
    mixture,
    *,
    vocal=None,
    instrumental=None,
    settings: Settings | None = None,
    max_duration_s: float | None = None,
    max_segment_s: float | None = None,
    keep_audio: bool = False,
    target_name: str | None = None,
) -> Pair:
    """Decode and prepare a (mixture, vocal) pair as the research code does.

    Give the target as the isolated ``vocal`` or as the ``instrumental``; in
    the second case the vocal is ``mixture - instrumental`` sample by sample
    (the research code's "inverse" mode), taken before normalisation.

    Both files are probed first (limits, lengths, the size of the analysis),
    then only the analysed segment is decoded, mixed to mono block by block.

    Parameters
    ----------
    mixture, vocal, instrumental : path, bytes, file object or :class:`Decoded`
        Exactly one of ``vocal`` and ``instrumental``.
    settings : Settings, optional
        Segment, sample rate and level mode (``Settings()`` if omitted).
    max_duration_s, max_segment_s : float, optional
        The limits (default :func:`duration_limit_s`, :func:`segment_limit_s`).
    keep_audio : bool
        The caller will keep every run's audio (a report, players): the
        workload limit is then :data:`KEEP_AUDIO_SHARE` of the segment limit.
    target_name : str, optional
        Which stem the target is (:data:`vsep_core.stems.TARGET_NAMES`;
        default ``"vocals"``). ``vocal`` is then that stem's file and
        ``instrumental`` everything else; messages and ``info`` name it.

    Returns
    -------
    Pair
        ``info["target_name"]`` records the target.

    Raises
    ------
    VsepError
        For undecodable, damaged, empty, silent or non-finite input, input
        over a limit, a pair whose lengths differ by more than one frame or
        :data:`CODEC_PADDING_S` (whichever is longer), a pair with nothing to separate (the vocal is
        the mixture), and when not exactly one of ``vocal`` and
        ``instrumental`` is given.
    """
    from .stems import labels

    settings = settings or Settings()
    names = labels(target_name)
    if (vocal is None) == (instrumental is None):
        raise VsepError(f"Give the target as exactly one of: the isolated {names.target}, or the {names.complement}.")
    target_mode = "vocal" if vocal is not None else "mixture_minus_instrumental"
    # Messages name the stem (a vocal pair's words are as they always were).
    other_name = names.target if vocal is not None else names.complement
    mix_side = _Side(mixture, "mixture", max_duration_s)
    other_side = _Side(vocal if vocal is not None else instrumental, other_name, max_duration_s)
    frame = settings.n_fft * max(mix_side.sr, other_side.sr) // settings.sr
    _check_lengths(mix_side, other_side, frame=frame)
    shortest = min(mix_side.duration_s, other_side.duration_s)
    if np.isfinite(shortest):
        if settings.start_s >= shortest:
            _refuse_start(
                mix_side.name if mix_side.duration_s <= other_side.duration_s else other_side.name,
                shortest,
                settings.start_s,
            )
        available = shortest - settings.start_s
        check_workload(
            available if settings.duration_s is None else min(settings.duration_s, available),
            settings,
            max_segment_s=max_segment_s,
            keep_audio=keep_audio,
        )

    mix = mix_side.segment(settings)
    other = other_side.segment(settings)
    n = min(len(mix), len(other))  # equal to within a frame (checked above)
    mix, other = mix[:n], other[:n]
    # Again on what was decoded: a container that gave no length skipped the check above.
    check_workload(n / settings.sr, settings, max_segment_s=max_segment_s, keep_audio=keep_audio)
    check_signal(mix, "mixture", settings)
    check_signal(other, other_name, settings)
    if vocal is not None:
        _check_something_to_separate(mix, other, names)
    voc = other if vocal is not None else mix - other
    check_signal(
        voc,
        f"{names.target} (mixture minus {names.complement})" if vocal is None else names.target,
        settings,
        silent_hint=f"The {names.complement} is the mixture itself: there is no {names.target} to separate."
        if vocal is None
        else "",
    )

    mix_out, voc_out, mix_gain, voc_gain = normalise_levels(mix, voc, settings.level)
    info = {
        "mixture": mix_side.label,
        ("vocal" if vocal is not None else "instrumental"): other_side.label,
        "target_mode": target_mode,
        "level": settings.level,
        "mixture_gain": mix_gain,
        "vocal_gain": voc_gain,
        "source_durations_s": {
            "mixture": mix_side.duration_s,
            ("vocal" if vocal is not None else "instrumental"): other_side.duration_s,
        },
        "n_samples": n,
        "target_name": names.name,
    }
    # A file with several audio streams: which one was read (a silent first track is skipped, and said so).
    streams = {
        role: side.info.stream_label()
        for role, side in (("mixture", mix_side), ("vocal" if vocal is not None else "instrumental", other_side))
        if side.info is not None and side.info.stream_label()
    }
    if streams:
        info["streams"] = streams
    return Pair(
        mixture=mix_out.astype(np.float32, copy=False),
        vocal=voc_out.astype(np.float32, copy=False),
        sr=settings.sr,
        info=info,
    )
