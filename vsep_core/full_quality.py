"""Full-quality output: a result's learned EQ applied to the original mixture, at its own rate and channels.

The engine analyses a segment at 22 050 Hz, mono (:class:`~vsep_core.settings.Settings` ``sr``), so every
result it rebuilds is 22 050 Hz mono even when the song is 44.1 kHz stereo. What a result *is*, though, is
a set of EQ curves: for every analysis window j (centred at ``j · hop / sr`` seconds from the segment's
start), a gain in dB at each of ``n_points`` frequencies spread evenly from 0 Hz to the analysis Nyquist
(``linspace(0, sr / 2, n_points)``, spec §4–5). Frequencies and seconds do not depend on the sample
rate, so the same curves can be applied to the original mixture:

1. the segment of each channel is transformed (STFT) at the file's own rate, with the analysis frame
   and hop scaled by ``rate / analysis rate`` (at 44.1 kHz: n_fft 4096, hop 2080, so every frame is
   centred exactly where an analysis window was);
2. each frame's gain is read off the curves: linear interpolation over frequency (the bands are
   frequencies) and, when the scaled hop is not a whole number of samples, over time between the two
   nearest analysis windows;
3. the gains multiply the mixture's spectrum (its magnitude and phase: the mixture's phase, as spec §8),
   and the inverse STFT gives the estimate, as long as the segment.

Above the frequencies the analysis heard. A segment resampled to 22 050 Hz keeps nothing above
11 025 Hz, and soxr's anti-alias filter already starts to cut at about 10.3 kHz (−0.2 dB at 10.2 kHz,
−4 dB at 10.5 kHz, −99 dB at 11 kHz, measured on white noise), so the top bands' curves were learned
from the filter's residue: both fingerprints are near their floors there and the learned gain means
nothing. Every frequency above :data:`HELD_SHARE` of the analysis Nyquist (9 922 Hz at 22 050 Hz) gets the
gain learned at that frequency, the highest band the analysis heard in full, per window: the air above
a vocal is kept or cut as its presence range was, without inventing a brick-wall low-pass (that would
make the "full-quality" audio as dull as the analysis audio) and without trusting the residue. When the
file is at the analysis rate (nothing was resampled), every band was heard and nothing is held.

Everything is vectorised over bins and frames (one interpolation each way, one multiply); the only loop
is over channels, each its own STFT.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import dsp
from .errors import VsepError
from .limits import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from .validation import check_signal

#: Share of the analysis Nyquist above which a resampled file's bands hold the gain learned at it
#: (below the resampler's pass-band edge, ≈ 0.93; see the module's docstring).
HELD_SHARE = 0.9

#: How a multichannel estimate is scored (:func:`score_full_quality`).
CHANNEL_SCORING = ("per channel, averaged", "mono down-mix")


@dataclass(frozen=True)
class FullQualityEstimate:
    """A target estimate at the original mixture's sample rate and channels.

    Attributes
    ----------
    target_raw : np.ndarray [shape=(channels, n), dtype=float32]
        The estimate at the files' true scale (not normalised): what scores see.
    mixture : np.ndarray [shape=(channels, n), dtype=float32]
        The mixture's segment it was made from, at its true scale.
    sr : int
        The original rate.
    start_s, duration_s : float
        The segment, in seconds of the original file.
    held_hz : float or None
        Frequencies above this got the gain learned at it (``None``: none held).
    n_fft, hop_length : int
        The STFT at the original rate.
    """

    target_raw: np.ndarray = field(repr=False)
    mixture: np.ndarray = field(repr=False)
    sr: int
    start_s: float
    duration_s: float
    held_hz: float | None
    n_fft: int
    hop_length: int

    @property
    def channels(self) -> int:
        return self.target_raw.shape[0]

    @property
    def n_samples(self) -> int:
        return self.target_raw.shape[1]

    @property
    def complement_raw(self) -> np.ndarray:
        """``mixture − target_raw``: everything else, at the true scale."""
        return (self.mixture - self.target_raw).astype(np.float32, copy=False)

    @property
    def target(self) -> np.ndarray:
        """The estimate peak-normalised over all channels together (one gain keeps the stereo image), as the
        analysis-rate estimates are saved."""
        return peak_normalise_channels(self.target_raw)

    def frames(self) -> np.ndarray:
        """Samples-first (``n × channels``), as WAV writers take them."""
        return np.ascontiguousarray(self.target.T)


def peak_normalise_channels(y: np.ndarray) -> np.ndarray:
    """``y / (max|y| + 1e-8)`` with one peak over every channel (the research code's rule, kept stereo)."""
    from .prepare import NORMALISE_EPS

    return (y / (np.max(np.abs(y)) + NORMALISE_EPS)).astype(np.float32, copy=False)


# --- what a result's EQ is ------------------------------------------------------------------


def total_eq(passes, n_windows: int, n_points: int | None = None) -> np.ndarray:
    """The EQ a chain of passes applied in all: each pass's curves added over the windows it covers.

    Parameters
    ----------
    passes : sequence of np.ndarray [shape=(n_points, windows_used)]
        Each pass's curves in dB (:func:`vsep_core.api.eq_curves` gives ``(view, eq)`` pairs: pass the
        ``eq``\\ s). A pooled slice in seed mode covers only its first ``windows_used`` windows (the
        research code's quirk), exactly as the optimiser applied it.
    n_windows : int
        The analysis's window count.
    n_points : int, optional
        Bands per curve (default: the first pass's).

    Returns
    -------
    np.ndarray [shape=(n_points, n_windows), dtype=float32]

    Raises
    ------
    VsepError
        For no pass, curves of different band counts, or more windows than ``n_windows``.
    """
    passes = [np.asarray(eq, dtype=np.float32) for eq in passes]
    if not passes:
        raise VsepError("A result needs at least one pass of EQ curves.")
    n_points = passes[0].shape[0] if n_points is None else int(n_points)
    total = np.zeros((n_points, int(n_windows)), dtype=np.float32)
    for eq in passes:
        if eq.ndim != 2 or eq.shape[0] != n_points or eq.shape[1] > n_windows:
            raise VsepError(f"EQ curves of shape {eq.shape} do not fit {n_points} bands × {n_windows} windows.")
        total[:, : eq.shape[1]] += eq
    return total


# --- the full-rate transform ----------------------------------------------------------------


def full_rate_frame(sr: int, analysis_sr: int, n_fft: int, hop_length: int) -> tuple[int, int]:
    """The STFT frame and hop at ``sr`` that span the same seconds as the analysis's.

    ``n_fft`` scales to the nearest even number of samples; the hop to the nearest whole number (exact at
    44.1 kHz and 22.05 kHz for a 22.05 kHz analysis; elsewhere the gains are interpolated in time).
    """
    ratio = sr / analysis_sr
    frame = max(2, 2 * int(round(n_fft * ratio / 2)))
    return frame, max(1, int(round(hop_length * ratio)))


def held_frequency(sr: int, analysis_sr: int) -> float | None:
    """Where the held gain starts: :data:`HELD_SHARE` of the analysis Nyquist for a resampled file, else none."""
    return None if int(sr) == int(analysis_sr) else HELD_SHARE * analysis_sr / 2


def frame_gains_db(
    eq_db: np.ndarray,
    *,
    analysis_sr: int,
    analysis_hop: int,
    sr: int,
    n_fft: int,
    hop_length: int,
    n_frames: int,
    held_hz: float | None = None,
) -> np.ndarray:
    """The gain (dB) of every bin and frame of a full-rate STFT, read off the analysis's EQ curves.

    Parameters
    ----------
    eq_db : np.ndarray [shape=(n_points, windows)]
        Curves at ``linspace(0, analysis_sr / 2, n_points)`` Hz; window j centred at
        ``j · analysis_hop / analysis_sr`` s.
    analysis_sr, analysis_hop : int
    sr, n_fft, hop_length, n_frames : int
        The full-rate STFT (centred frames: frame f at ``f · hop_length / sr`` s).
    held_hz : float, optional
        Bins above it take the gain at it (default: none held; bins above the analysis Nyquist take the
        last band's gain).

    Returns
    -------
    np.ndarray [shape=(1 + n_fft // 2, n_frames), dtype=float32]
        Frames after the last analysis window keep its gain; linear in frequency and time between.
    """
    eq_db = np.asarray(eq_db, dtype=np.float32)
    n_points, n_windows = eq_db.shape
    nyquist = analysis_sr / 2
    top = nyquist if held_hz is None else min(float(held_hz), nyquist)
    freqs = np.minimum(np.arange(1 + n_fft // 2) * (sr / n_fft), top)
    lo_f, w_f = _linear_index(freqs / nyquist * (n_points - 1), n_points)
    by_bin = eq_db[lo_f] * (1 - w_f)[:, None] + eq_db[lo_f + 1] * w_f[:, None]  # (bins, windows)
    times = np.arange(n_frames) * (hop_length / sr)
    lo_t, w_t = _linear_index(times * (analysis_sr / analysis_hop), n_windows)
    return (by_bin[:, lo_t] * (1 - w_t) + by_bin[:, lo_t + 1] * w_t).astype(np.float32, copy=False)


def _linear_index(position: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower index and weight of linear interpolation at ``position`` in ``0 … n − 1`` (clamped to the ends);
    the upper index ``lo + 1`` is always valid (a one-point axis is padded by its last value)."""
    position = np.clip(position, 0.0, n - 1)
    lo = np.minimum(np.floor(position).astype(np.int64), max(n - 2, 0))
    weight = (position - lo).astype(np.float32)
    if n == 1:
        return np.zeros_like(lo), np.zeros_like(weight)
    return lo, weight


def apply_eq(
    mixture: np.ndarray,
    sr: int,
    eq_db: np.ndarray,
    *,
    analysis_sr: int,
    analysis_hop: int,
    n_fft: int,
    held_hz: float | None = None,
) -> np.ndarray:
    """A result's EQ curves applied to a mixture at its own rate and channels.

    Parameters
    ----------
    mixture : np.ndarray [shape=(n,) or (channels, n)]
        The mixture's analysed segment at ``sr`` (mono or up to :data:`~vsep_core.limits.MAX_CHANNELS`).
    sr : int
        Its sample rate.
    eq_db : np.ndarray [shape=(n_points, windows)]
        The EQ curves in dB (:func:`total_eq`, or a joint result's ``eq``).
    analysis_sr, analysis_hop, n_fft : int
        The analysis the curves come from (``Settings.sr``, ``Analysis.hop_length``, ``Settings.n_fft``).
    held_hz : float, optional
        See :func:`frame_gains_db` (:func:`held_frequency` gives the module's rule).

    Returns
    -------
    np.ndarray [shape=(channels, n), dtype=float32]
        The estimate, as long as ``mixture``, on its scale (a mono input gives one channel).

    Raises
    ------
    VsepError
        For a mixture that is empty, shorter than one analysis frame, silent, not finite, or has too many
        channels; curves that are not finite or not (bands ≥ 2, windows ≥ 1); rates or hop out of range.
    """
    y = np.asarray(mixture, dtype=np.float32)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or not 1 <= y.shape[0] <= MAX_CHANNELS:
        raise VsepError(
            f"The mixture must be (channels, samples) with 1 to {MAX_CHANNELS} channels; got shape {np.shape(mixture)}."
        )
    for name, value, low, high in (
        ("sr", sr, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
        ("analysis_sr", analysis_sr, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
        ("analysis_hop", analysis_hop, 1, 1 << 20),
        ("n_fft", n_fft, 2, 1 << 20),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise VsepError(f"{name} must be a whole number from {low} to {high}, got {value!r}.")
    eq_db = np.asarray(eq_db, dtype=np.float32)
    if eq_db.ndim != 2 or eq_db.shape[0] < 2 or eq_db.shape[1] < 1:
        raise VsepError(f"The EQ curves must be (bands ≥ 2, windows ≥ 1); got shape {eq_db.shape}.")
    if not np.isfinite(eq_db).all():
        raise VsepError("The EQ curves hold NaN or infinite gains; they do not come from a finished result.")
    frame, hop = full_rate_frame(sr, analysis_sr, n_fft, analysis_hop)
    channels = [
        check_signal(ch, "mixture" if len(y) == 1 else f"mixture (channel {i + 1})", min_samples=frame, sr=sr)
        for i, ch in enumerate(y)
    ]
    if all(not np.any(ch) for ch in channels):
        raise VsepError(
            "The mixture is silent in this segment: there is nothing to separate. Choose another "
            "segment (its start and length)."
        )
    n = y.shape[1]
    n_frames = 1 + n // hop  # the centred STFT's frame count
    gain = 10.0 ** (
        frame_gains_db(
            eq_db,
            analysis_sr=analysis_sr,
            analysis_hop=analysis_hop,
            sr=sr,
            n_fft=frame,
            hop_length=hop,
            n_frames=n_frames,
            held_hz=held_hz,
        )
        / 20.0
    )
    out = np.empty_like(y)
    for c, ch in enumerate(channels):
        spectrum = dsp.stft(ch, n_fft=frame, hop_length=hop) * gain  # magnitude × gain, the mixture's phase
        out[c] = dsp.istft(spectrum, n_fft=frame, hop_length=hop, length=n)
    return out


# --- from files -----------------------------------------------------------------------------


def decode_segment(source, settings, *, name: str = "mixture", max_duration_s: float | None = None):
    """The settings' segment of a file at its own rate with all its channels (:func:`vsep_core.decode.decode`).

    The same samples :func:`vsep_core.prepare.segment` cuts before mixing to mono and resampling.
    """
    from .decode import decode

    return decode(
        source, name=name, start_s=settings.start_s, duration_s=settings.duration_s, max_duration_s=max_duration_s
    )


def full_quality_estimate(
    mixture, eq_db, settings, *, analysis_hop: int, pair_info: dict | None = None, max_duration_s: float | None = None
) -> FullQualityEstimate:
    """Decode the mixture's segment at its own rate and channels and apply a result's EQ to it.

    Parameters
    ----------
    mixture : path, bytes, file object or Decoded
        The original mixture file (or its segment, already decoded with all its channels).
    eq_db : np.ndarray [shape=(n_points, windows)]
    settings : Settings
        The result's settings (segment, analysis rate, n_fft).
    analysis_hop : int
        The analysis's hop (``Analysis.hop_length``).
    pair_info : dict, optional
        The engine pair's ``info``: its ``mixture_gain`` and ``vocal_gain`` bring the estimate to the files'
        true scale, as :func:`vsep_core.prepare.to_true_scale` does at the analysis rate.

    Returns
    -------
    FullQualityEstimate
    """
    from .decode import Decoded

    decoded = (
        mixture if isinstance(mixture, Decoded) else decode_segment(mixture, settings, max_duration_s=max_duration_s)
    )
    held = held_frequency(decoded.sr, settings.sr)
    y = apply_eq(
        decoded.samples,
        decoded.sr,
        eq_db,
        analysis_sr=settings.sr,
        analysis_hop=analysis_hop,
        n_fft=settings.n_fft,
        held_hz=held,
    )
    info = pair_info or {}
    # The EQ maps the engine's mixture (× mixture_gain) onto the target's engine scale (× vocal_gain).
    scale = np.float32(float(info.get("mixture_gain", 1.0)) / float(info.get("vocal_gain", 1.0)))
    frame, hop = full_rate_frame(decoded.sr, settings.sr, settings.n_fft, analysis_hop)
    return FullQualityEstimate(
        target_raw=(y * scale).astype(np.float32, copy=False),
        mixture=np.asarray(decoded.samples, dtype=np.float32),
        sr=int(decoded.sr),
        start_s=float(settings.start_s),
        duration_s=decoded.samples.shape[1] / decoded.sr,
        held_hz=held,
        n_fft=frame,
        hop_length=hop,
    )


def target_at_rate(
    target, estimate: FullQualityEstimate, settings, *, given: str = "vocal", max_duration_s: float | None = None
) -> np.ndarray:
    """The true target's segment at the estimate's rate and length, with its own channels.

    Parameters
    ----------
    target : path, bytes, file object or Decoded
        The target stem's file (``given="vocal"``) or everything else's (``given="instrumental"``: the
        target is then the mixture minus it, channel by channel).

    Returns
    -------
    np.ndarray [shape=(channels, n), dtype=float32]
    """
    from .decode import Decoded, to_mono

    decoded = (
        target
        if isinstance(target, Decoded)
        else decode_segment(target, settings, name=given, max_duration_s=max_duration_s)
    )
    y = np.asarray(decoded.samples, dtype=np.float32)
    if decoded.sr != estimate.sr:
        import soxr

        y = np.stack([soxr.resample(ch, decoded.sr, estimate.sr, quality="soxr_hq") for ch in y]).astype(np.float32)
    fitted = np.zeros((y.shape[0], estimate.n_samples), dtype=np.float32)
    n = min(y.shape[1], estimate.n_samples)
    fitted[:, :n] = y[:, :n]
    if given == "instrumental":
        mixture = estimate.mixture
        if fitted.shape[0] != mixture.shape[0]:
            mixture, fitted = to_mono(mixture)[None, :], to_mono(fitted)[None, :]
        fitted = (mixture - fitted).astype(np.float32)
    return fitted


def score_full_quality(
    estimate: FullQualityEstimate, target: np.ndarray, *, window_s: float | None = 1.0, bss_filters: str = "global"
) -> dict:
    """Score a full-quality estimate with the analysis-rate metrics (:func:`vsep_core.metrics.evaluate_estimate`).

    Channels: when the true target has the mixture's channels, each channel is scored on its own (its
    target, everything else = mixture − target, the estimate and mixture − estimate) and every figure is
    the mean over channels (SiSEC's per-track figures average over sources the same way); the
    per-channel figures are kept. When they differ (a mono vocal file with a stereo mixture: where the
    vocal sits in the stereo image is unknown), estimate, mixture and target are mixed to mono (the
    mean of the channels) and scored once.

    Returns
    -------
    dict
        ``{"vocal": {metric: dB}, "instrumental": {...}, "channels": [per-channel dicts],
        "channel_scoring": one of :data:`CHANNEL_SCORING`, "sr", "n_channels"}``: the ``"vocal"`` slot is
        the target, ``"instrumental"`` its complement, as :func:`vsep_core.evaluate.score` names them.
    """
    from .decode import to_mono
    from .metrics import SOURCE_NAMES, evaluate_estimate, references_kept

    target = np.asarray(target, dtype=np.float32)
    if target.ndim == 1:
        target = target[None, :]
    est, mix = estimate.target_raw, estimate.mixture
    if target.shape[0] == est.shape[0]:
        how = CHANNEL_SCORING[0]
    else:
        how = CHANNEL_SCORING[1]
        est, mix, target = to_mono(est)[None, :], to_mono(mix)[None, :], to_mono(target)[None, :]
    per_channel = []
    with references_kept():
        for c in range(est.shape[0]):
            ref = target[c].astype(np.float64)
            rest = mix[c].astype(np.float64) - ref
            found = evaluate_estimate(
                ref,
                rest,
                est[c],
                mix[c].astype(np.float64) - est[c].astype(np.float64),
                estimate.sr,
                window_s=window_s,
                filters=bss_filters,
            )
            found.pop("bss_split", None)
            per_channel.append(found)
    out = {
        source: {
            metric: float(np.nanmean([ch[source][metric] for ch in per_channel]))
            if any(np.isfinite(ch[source][metric]) for ch in per_channel)
            else float("nan")
            for metric in per_channel[0][source]
        }
        for source in SOURCE_NAMES
    }
    out.update(channels=per_channel, channel_scoring=how, sr=estimate.sr, n_channels=estimate.channels)
    return out


# --- what a results folder, report or shared result keeps of a run at full quality ----------------


def channels_word(n: int) -> str:
    """``1`` → ``"mono"``, ``2`` → ``"stereo"``, else ``"N channels"``."""
    return {1: "mono", 2: "stereo"}.get(int(n), f"{int(n)} channels")


def run_title(label: str) -> str:
    """A run's label as a person reads it: ``"3"`` → ``"N = 3"``, ``"greedy"`` → ``"greedy order"``."""
    label = str(label)
    return {"greedy": "greedy order", "best_prefix": "best prefix of the greedy order", "joint": "joint matching"}.get(
        label, f"N = {label}"
    )


@dataclass(frozen=True)
class FullQualityRun:
    """One run made at full quality, as a results folder, a report and a shared result keep it.

    Attributes
    ----------
    label : str
        The run (``"3"``, ``"greedy"``, ``"best_prefix"``, ``"joint"``), as :class:`vsep_core.report.Outputs`
        labels runs.
    sr, channels : int
        The original mixture's rate and channels (the files').
    held_hz : float or None
        See :class:`FullQualityEstimate`.
    scores : dict or None
        :func:`score_full_quality`'s figures (``None``: not scored).
    files : tuple of str
        The target's and the complement's WAVs, relative to the results folder.
    seconds : float or None
        How long making it took.
    target, complement : np.ndarray [shape=(n, channels)] or None
        The audio, samples first (the target peak-normalised, as its WAV), kept only for a report's players.
    slices : tuple of str or None
        A seed run's slices (to find the same run's analysis-rate scores).
    """

    label: str
    sr: int
    channels: int
    held_hz: float | None = None
    scores: dict | None = None
    files: tuple = ()
    seconds: float | None = None
    target: np.ndarray | None = field(default=None, repr=False)
    complement: np.ndarray | None = field(default=None, repr=False)
    slices: tuple | None = None

    @property
    def quality(self) -> str:
        """``"44100 Hz stereo"``."""
        return f"{self.sr} Hz {channels_word(self.channels)}"

    def to_dict(self) -> dict:
        """The run's entry in ``full_quality.json``."""
        return {
            "sr": self.sr,
            "channels": self.channels,
            "held_above_hz": self.held_hz,
            "files": list(self.files),
            "seconds": self.seconds,
            "scores": self.scores,
        }


def run_from_wavs(
    label: str,
    target_wav: bytes,
    complement_wav: bytes,
    *,
    held_hz: float | None = None,
    scores: dict | None = None,
    seconds: float | None = None,
    slices=None,
    files=(),
    keep_audio: bool = True,
) -> FullQualityRun:
    """A :class:`FullQualityRun` from its two WAVs (the dashboard's players' files): rate and channels read from
    them, the audio decoded when ``keep_audio`` (for a report's players or a shared result)."""
    import io

    import soundfile as sf

    info = sf.info(io.BytesIO(target_wav))
    audio = {}
    if keep_audio:
        for part, data in (("target", target_wav), ("complement", complement_wav)):
            audio[part] = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)[0]
    return FullQualityRun(
        label=str(label),
        sr=int(info.samplerate),
        channels=int(info.channels),
        held_hz=held_hz,
        scores=scores,
        files=tuple(files),
        seconds=seconds,
        slices=None if slices is None else tuple(str(s) for s in slices),
        target=audio.get("target"),
        complement=audio.get("complement"),
    )


def scores_report(runs, pair_labels: dict | None = None) -> dict:
    """Full-quality scores in the shape of an evaluation report (``metrics.json``), one method per scored run:
    what :func:`vsep_core.presenter.score_table` turns into rows, as it does the analysis-rate scores.

    Parameters
    ----------
    runs : iterable of FullQualityRun
    pair_labels : dict, optional
        What the report's ``"vocal"`` and ``"instrumental"`` slots are called (``metrics["pair"]["labels"]``).

    Returns
    -------
    dict
        ``{"pair": {"labels": …}, "methods": [{"name", "kind", "description", "vocal", "instrumental", "info"}]}``;
        no method for a run without scores.
    """
    methods = []
    for run in runs:
        if not run.scores:
            continue
        methods.append(
            {
                "name": f"{run_title(run.label)}, full quality ({run.quality})",
                "kind": "full quality",
                "description": "The run's learned EQ applied to the mixture file at its own rate and "
                f"channels; channels scored {run.scores.get('channel_scoring', '')}.",
                "vocal": run.scores["vocal"],
                "instrumental": run.scores["instrumental"],
                "info": {"label": run.label, "sr": run.sr, "channels": run.channels},
            }
        )
    out = {"methods": methods}
    if pair_labels:
        out["pair"] = {"labels": dict(pair_labels)}
    return out
