"""Does this vocal sit sample-exactly inside this mixture?

Waveform metrics (SI-SDR, SDR) compare signals sample by sample, so they only
mean something when the vocal is the very signal that was mixed: same
master, same edit, same start. Acapellas and full mixes found in the wild
are often from different masters (other EQ, compression, a resampling, a
few hundred samples of offset): the research code's own example pair has a
waveform correlation near 0.05 and a best lag of ~300 samples. The
fingerprint-EQ method itself only compares magnitude profiles per window, so
it still runs on such a pair; the waveform metrics do not mean anything.

:func:`check_alignment` finds the lag and gain that best fit the vocal into
the mixture (least squares over lags within ``max_lag_s``), the waveform
correlation as given and at that lag, and the share of the mixture's energy
the fitted vocal explains, and says plainly what that means.
:func:`apply_alignment` returns the vocal with the lag and gain applied.

For an exact stem pair (mixture = vocal + instrumental) the lag is 0, the
gain is ``1 + <instrumental, vocal> / <vocal, vocal>`` (≈ 1) and the
correlation is ``‖v‖ / ‖m‖`` for an instrumental uncorrelated with the vocal
(0.71 at a 0 dB vocal-to-accompaniment ratio, 0.32 at −10 dB).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import VsepError
from .limits import MAX_LAG_S, MIN_CORRELATION

#: Lag 0 wins when it explains at least this share of what the best lag explains. A low, smooth
#: stem (a bass line) correlates with the rest of the mix by chance a sample or two away, so an
#: exact stem pair's best lag can be ±2 samples while lag 0 explains 99.7 % as much (measured on
#: the bundled samples' bass stems). Within 1 % the two fits are indistinguishable, and so is the
#: metric they give; a real 1-sample shift of a voice or drums costs 2–22 % and is still found.
LAG_ZERO_SHARE = 0.99


@dataclass(frozen=True)
class Alignment:
    """How a vocal fits into a mixture.

    Attributes
    ----------
    lag_samples : int
        Delay to apply to the vocal: ``mixture[n] ≈ gain · vocal[n − lag]``.
    gain : float
        Least-squares gain of the delayed vocal (negative: inverted polarity).
    correlation : float
        Waveform correlation ``<m, v> / (‖m‖ ‖v‖)`` as given (lag 0).
    correlation_at_lag : float
        The same with the vocal delayed by ``lag_samples``.
    explained : float
        Share of the mixture's energy explained by ``gain · delayed vocal``
        (``1 − ‖m − g·v‖² / ‖m‖²``, from 0 to 1).
    sr : int
    aligned : bool
        True when waveform metrics are meaningful: the best lag is 0 and the
        correlation is at least ``min_correlation``.
    verdict : str
        What this means, in a sentence or two.
    """

    lag_samples: int
    gain: float
    correlation: float
    correlation_at_lag: float
    explained: float
    sr: int
    aligned: bool
    verdict: str

    @property
    def lag_ms(self) -> float:
        return 1000.0 * self.lag_samples / self.sr

    @property
    def fixable(self) -> bool:
        """Whether applying the lag and gain repairs the pair (see :func:`is_fixable`)."""
        return is_fixable(self.to_dict())

    def to_dict(self) -> dict:
        """JSON-ready form (the evaluate report's ``"alignment"``)."""
        out = asdict(self)
        out["lag_ms"] = self.lag_ms
        return out


def is_fixable(found: dict, min_correlation: float = MIN_CORRELATION) -> bool:
    """Whether a check's lag and gain repair the pair: the one "fixable" rule.

    A real misfit only (a lag, or inverted polarity) of a file that is the one mixed: an aligned
    pair's fitted gain is off by the rest's chance correlation with the target, and an unrelated
    file (correlation below ``min_correlation`` at its best lag) has nothing to fix.

    Parameters
    ----------
    found : dict
        :meth:`Alignment.to_dict` (the dashboard keeps this form).
    """
    return abs(found["correlation_at_lag"]) >= min_correlation and (found["lag_samples"] != 0 or found["gain"] < 0)


def check_alignment(
    mixture: np.ndarray,
    vocal: np.ndarray,
    sr: int,
    *,
    max_lag_s: float = MAX_LAG_S,
    min_correlation: float = MIN_CORRELATION,
    name: str = "vocal",
) -> Alignment:
    """Find the lag and gain that best fit ``vocal`` into ``mixture``.

    The lag maximises ``|<m, delayed v>|`` over ``|lag| ≤ max_lag_s``
    (an FFT cross-correlation); for that lag the least-squares gain is
    ``<m, delayed v> / ‖delayed v‖²``.

    Parameters
    ----------
    mixture, vocal : np.ndarray [shape=(n,)]
        Mono signals at ``sr``; lengths may differ (the shorter overlap counts).
    sr : int
    max_lag_s : float
        Largest delay searched either way, in seconds.
    min_correlation : float
        Correlation at the best lag below which the pair is called unrelated.
    name : str
        What the second signal is, for the verdict (``"instrumental"`` when
        the target was given as the instrumental).

    Returns
    -------
    Alignment

    Raises
    ------
    VsepError
        When a signal is not mono, not finite, or silent.
    """
    m = _as_signal(mixture, "mixture")
    v = _as_signal(vocal, name)
    if not (isinstance(sr, (int, np.integer)) and sr > 0):
        raise VsepError(f"The sample rate must be a positive whole number, got {sr!r}.")
    if not (np.isfinite(max_lag_s) and max_lag_s >= 0):
        raise VsepError(f"The largest lag must be zero or more seconds, got {max_lag_s!r}.")
    n = min(len(m), len(v))
    m, v = m[:n], v[:n]
    max_lag = min(int(round(max_lag_s * sr)), n - 1)

    # xcorr[k] = Σ m[i + k] · v[i]: the vocal delayed by k against the mixture.
    lags = np.arange(-max_lag, max_lag + 1)
    xcorr = _cross_correlation(m, v, max_lag)
    # Energy of the delayed vocal that still overlaps the mixture, for every lag.
    cumulative = np.concatenate([[0.0], np.cumsum(v * v)])
    overlap_energy = np.where(
        lags >= 0, cumulative[n - np.maximum(lags, 0)], cumulative[n] - cumulative[np.maximum(-lags, 0)]
    )
    # Least-squares fit at lag k leaves ‖m‖² − xcorr² / overlap energy: pick the lag that removes most.
    with np.errstate(divide="ignore", invalid="ignore"):
        removed = np.where(overlap_energy > 0, xcorr**2 / overlap_energy, 0.0)
    best = int(np.argmax(removed))
    zero = int(np.flatnonzero(lags == 0)[0])
    if removed[zero] >= LAG_ZERO_SHARE * removed[best]:
        best = zero  # no fit worth a lag (see LAG_ZERO_SHARE)
    lag = int(lags[best])
    m_energy, v_energy = float(m @ m), float(v @ v)
    gain = float(xcorr[best] / overlap_energy[best])
    correlation = float(xcorr[zero] / np.sqrt(m_energy * v_energy))
    correlation_at_lag = float(xcorr[best] / np.sqrt(m_energy * overlap_energy[best]))
    explained = float(np.clip(removed[best] / m_energy, 0.0, 1.0))
    aligned, verdict = _verdict(lag, gain, correlation, correlation_at_lag, explained, sr, min_correlation, name)
    return Alignment(
        lag_samples=lag,
        gain=gain,
        correlation=correlation,
        correlation_at_lag=correlation_at_lag,
        explained=explained,
        sr=int(sr),
        aligned=aligned,
        verdict=verdict,
    )


def apply_alignment(vocal: np.ndarray, lag_samples: int, gain: float = 1.0) -> np.ndarray:
    """The vocal delayed by ``lag_samples`` and scaled by ``gain``, same length.

    Samples shifted in from outside are zeros. Pass an :class:`Alignment`'s
    ``lag_samples`` and ``gain`` to undo what :func:`check_alignment` found.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]
    """
    v = _as_signal(vocal, "vocal")
    if not np.isfinite(gain):
        raise VsepError(f"The gain must be a finite number, got {gain!r}.")
    lag = int(lag_samples)
    out = np.zeros(len(v), dtype=np.float64)
    if 0 <= lag < len(v):
        out[lag:] = v[: len(v) - lag]
    elif -len(v) < lag < 0:
        out[: len(v) + lag] = v[-lag:]
    return (gain * out).astype(np.float32)


def _cross_correlation(m: np.ndarray, v: np.ndarray, max_lag: int) -> np.ndarray:
    """``Σ m[i + k] · v[i]`` for k = −max_lag … max_lag, by FFT (equal-length signals).

    ``scipy.signal.correlate(m, v, method="fft")`` restricted to those lags,
    without importing scipy.signal (a second of a fresh dashboard's first page).
    """
    import scipy.fft

    n = len(m)
    size = scipy.fft.next_fast_len(2 * n - 1, real=True)
    circular = scipy.fft.irfft(scipy.fft.rfft(m, size) * np.conj(scipy.fft.rfft(v, size)), size)
    # Non-negative lags sit at the start of the circular result, negative ones at its end.
    return np.concatenate([circular[size - max_lag :] if max_lag else circular[:0], circular[: max_lag + 1]])


def _verdict(lag, gain, correlation, correlation_at_lag, explained, sr, min_correlation, name):
    from .stems import verb_for

    polarity = " with inverted polarity" if gain < 0 else ""
    plural = verb_for(name) == "are"  # "the drums are aligned", "the vocal is"
    be, does, fits, its = ("are", "do", "fit", "their") if plural else ("is", "does", "fits", "its")
    if abs(correlation_at_lag) < min_correlation:
        return False, (
            f"The {name} {does} not match the mixture's waveform: waveform correlation {correlation:.3f}, "
            f"at best {abs(correlation_at_lag):.3f} (lag {lag} samples); it explains {100 * explained:.1f} % "
            "of the mixture. The files are probably from different masters or edits, so waveform metrics "
            "(SI-SDR, SDR, SIR, SAR) on this pair are meaningless; compare spectra instead."
        )
    if lag != 0:
        return False, (
            f"The {name} {fits} the mixture best delayed by {lag} samples ({1000 * lag / sr:.1f} ms) with gain "
            f"{gain:.3f}{polarity}: correlation {correlation:.3f} as given, {abs(correlation_at_lag):.3f} "
            f"at that lag, explaining {100 * explained:.1f} % of the mixture. Waveform metrics on the pair "
            "as given are meaningless; apply the lag and gain first (apply_alignment, or --apply-alignment)."
        )
    if gain < 0:
        return False, (
            f"The {name} {be} aligned (lag 0) but {its} polarity is inverted (gain {gain:.3f}); waveform metrics "
            f"are meaningless until {'they are' if plural else 'it is'} flipped (apply the gain)."
        )
    return True, (
        f"The {name} {be} aligned with the mixture: lag 0, gain {gain:.3f}, correlation {correlation:.3f}, "
        f"explaining {100 * explained:.1f} % of the mixture. The pair lines up sample by sample, so waveform "
        "metrics can be computed on it."
    )


def _as_signal(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise VsepError(f"The {name} must be mono (one dimension), got shape {x.shape}.")
    if x.size == 0 or not np.isfinite(x).all():
        raise VsepError(f"The {name} is empty or holds NaN or infinite samples.")
    if not np.any(x):
        raise VsepError(f"The {name} is silent; its alignment cannot be checked.")
    return x
