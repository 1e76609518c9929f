"""Checks on signals and pairs: finite, long enough, not silent, something to separate, lengths that agree."""

from __future__ import annotations

import numpy as np

from .errors import VsepError
from .limits import (  # the input limits live in vsep_core.limits (applied here)
    CODEC_PADDING_S,
    MAX_SAMPLE_ABS,
)
from .settings import Settings

#: Peak below which a signal counts as silent (about -200 dBFS).
SILENCE_PEAK = 1e-10


def check_signal(
    y,
    name: str,
    settings: Settings | None = None,
    *,
    dtype=np.float32,
    min_samples: int = 0,
    sr: int | None = None,
    refuse_silent: bool | None = None,
    silence_peak: float = SILENCE_PEAK,
    silent_hint: str = "",
) -> np.ndarray:
    """The one validator of a signal handed to the engine, the baselines or the metrics.

    Parameters
    ----------
    y : array_like [shape=(n,)]
    name : str
        What the signal is, for the message ("mixture", "vocal reference" ...).
    settings : Settings, optional
        A prepared signal for analysis: then it must last one STFT frame
        (``settings.n_fft`` samples at ``settings.sr``), must not be silent and
        must stay within ±:data:`MAX_SAMPLE_ABS`.
    dtype : numpy dtype
        What to return it as (float32 for audio, float64 for metrics).
    min_samples : int
        Shortest length accepted (at least 1: an empty signal is refused).
    sr : int, optional
        The rate, to give lengths in milliseconds in the message.
    refuse_silent : bool, optional
        Refuse a signal whose peak is at or below ``silence_peak`` (default:
        only when ``settings`` is given). ``silence_peak=0`` refuses only
        exact digital silence.
    silent_hint : str
        A sentence added to the silence message (why silence matters here).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=dtype]

    Raises
    ------
    VsepError
        When it is not one channel, empty, not finite, silent (if asked) or
        too short.
    """
    y = np.asarray(y, dtype=dtype)
    if settings is not None:
        min_samples, sr = max(min_samples, settings.n_fft), settings.sr
        refuse_silent = True if refuse_silent is None else refuse_silent
    if y.ndim != 1:
        raise VsepError(f"The {name} must be a mono signal (one dimension), got shape {y.shape}.")
    if y.size == 0:
        raise VsepError(
            f"The {name} is empty (no samples){' after cutting the segment' if settings is not None else ''}."
        )
    if not np.isfinite(y).all():
        raise VsepError(f"The {name} holds NaN or infinite samples.")
    if settings is not None and float(np.max(np.abs(y))) > MAX_SAMPLE_ABS:
        _refuse_absurd(name, float(np.max(np.abs(y))))
    if refuse_silent:
        peak = float(np.max(np.abs(y)))
        if (peak <= silence_peak) if silence_peak > 0 else peak == 0.0:
            where = " in the analysed segment" if settings is not None else ""
            hint = f" {silent_hint}" if silent_hint else ""
            raise VsepError(f"The {name} is silent (every sample is zero){where}.{hint}")
    if len(y) < min_samples:
        ms = (lambda k: f" ({k / sr * 1000:.0f} ms)") if sr else (lambda k: "")
        raise VsepError(
            f"The {name} is {len(y)} samples{ms(len(y))} long; it must be at least one frame, "
            f"{min_samples} samples{ms(min_samples)}."
        )
    return y


def _check_something_to_separate(mixture: np.ndarray, vocal: np.ndarray, names=None) -> None:
    """Refuse a target that is the mixture itself (the same file twice): its complement would be silence."""
    from .stems import labels

    names = names or labels()
    residual = float(np.sum((mixture.astype(np.float64) - vocal) ** 2))
    energy = float(np.sum(mixture.astype(np.float64) ** 2))
    if residual <= 1e-10 * energy:  # −100 dB: the same samples, give or take rounding
        raise VsepError(
            f"The {names.target} is the same as the mixture: there is nothing to separate. "
            f"Give the isolated {names.target} (or the {names.complement}) of the song, not the "
            "song again."
        )


def _check_lengths(a, b, *, frame: int) -> None:
    if not (np.isfinite(a.duration_s) and np.isfinite(b.duration_s)):
        return  # a container that does not say: the segments are cut to the shorter
    diff_s = a.duration_s - b.duration_s
    sr = max(a.sr, b.sr)
    tolerance = max(frame, CODEC_PADDING_S * sr)  # in samples at the higher rate
    if abs(diff_s) * sr > tolerance:
        longer, shorter = (a, b) if diff_s > 0 else (b, a)
        raise VsepError(
            f"The {longer.name} ({longer.duration_s:.3f} s) is longer than the {shorter.name} "
            f"({shorter.duration_s:.3f} s) by {abs(diff_s):.3f} s; a pair must have the same length "
            f"(within {tolerance / sr * 1000:.0f} ms: an analysis frame or a codec's padding). "
            "Are they from the same song and edit?"
        )


def _refuse_absurd(name: str, peak: float):
    raise VsepError(
        f"The {name} holds samples as large as {peak:.3g}; audio lies within ±1 (float files a "
        f"little beyond), and above {MAX_SAMPLE_ABS:g} it is not a recording. Is it damaged, or raw "
        "data saved as audio?"
    )
