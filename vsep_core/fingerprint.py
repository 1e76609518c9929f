"""Fingerprints: the 400-point dB profile of each window, and the 25 metrics.

Spec §4. The profile is what the optimiser matches; the encoder cascade and
its 25 metrics are shown to people (the research notes' "425 metrics per
window") and are not used by the optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .settings import Settings

#: The research code's dB floor (``amin``) and the matching floor in dB.
AMIN = 1e-8


@dataclass(frozen=True)
class Interp:
    """A fixed linear interpolation between two uniform grids on [0, sr/2].

    Equal to ``np.interp(linspace(0, sr/2, n_to), linspace(0, sr/2, n_from), a)``
    to float precision, but applied to every window at once by a gather.
    Both grids span 0 … Nyquist, so the map does not depend on ``sr``.
    """

    lower: np.ndarray  # (n_to,) index of the left neighbour
    upper: np.ndarray  # (n_to,) index of the right neighbour
    weight: np.ndarray  # (n_to,) float64 weight of the right neighbour

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """Interpolate along axis 0 (rows); the result is float64, as ``np.interp``'s.

        ``a`` has shape ``(n_from, ...)``; the result ``(n_to, ...)``. Rows are
        gathered whole, which is several times faster than gathering columns;
        2-D float arrays (every spectrogram) go through one compiled loop
        with the same arithmetic and no temporaries.
        """
        if a.ndim == 2 and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous:
            from ._kernels import interp_rows

            out = np.empty((len(self.lower), a.shape[1]))
            interp_rows(a, self.lower, self.upper, self.weight, out)
            return out
        lo = np.take(a, self.lower, axis=0).astype(np.float64, copy=False)
        hi = np.take(a, self.upper, axis=0).astype(np.float64, copy=False)
        w = self.weight.reshape((-1,) + (1,) * (a.ndim - 1))
        hi -= lo
        hi *= w
        hi += lo
        return hi


@lru_cache(maxsize=64)
def interp_map(n_from: int, n_to: int) -> Interp:
    """The :class:`Interp` from ``n_from`` uniform points to ``n_to``."""
    x_from = np.linspace(0.0, 1.0, n_from)
    x_to = np.linspace(0.0, 1.0, n_to)
    pos = np.interp(x_to, x_from, np.arange(n_from, dtype=np.float64))
    lower = np.clip(np.floor(pos).astype(np.intp), 0, max(n_from - 2, 0))
    upper = np.minimum(lower + 1, n_from - 1)
    weight = pos - lower
    for arr in (lower, upper, weight):
        arr.setflags(write=False)
    return Interp(lower, upper, weight)


def amplitude_to_db(S: np.ndarray, *, amin: float = AMIN, top_db: float | None = 80.0, axis=None) -> np.ndarray:
    """``librosa.amplitude_to_db(S, ref=1, amin=amin, top_db=top_db)``, step for step.

    With ``axis`` set, the ``top_db`` floor is taken along that axis only
    (``axis=0`` floors each column, i.e. each window, on its own, as the
    per-window targets need), so many windows convert in one call.

    Same arithmetic as librosa (square, then ``10·log10`` against ``amin²``),
    so the result equals librosa's to the last bit, in the input's precision.
    """
    # librosa's steps, in place in one buffer (big temporaries cost more than the arithmetic).
    log_spec = np.abs(S)
    if not np.issubdtype(log_spec.dtype, np.floating):  # integers: librosa's steps end in float64
        log_spec = log_spec.astype(np.float64)
    np.square(log_spec, out=log_spec)
    np.maximum(log_spec, amin**2, out=log_spec)
    np.log10(log_spec, out=log_spec)
    log_spec *= 10.0
    if top_db is not None:
        peak = log_spec.max(axis=axis, keepdims=axis is not None)
        np.maximum(log_spec, peak - top_db, out=log_spec)
    return log_spec


def profiles(view: np.ndarray, n_points: int = 400) -> np.ndarray:
    """The ``n_points``-point profile of every window of a view.

    Parameters
    ----------
    view : np.ndarray [shape=(bins, windows)]

    Returns
    -------
    np.ndarray [shape=(n_points, windows), dtype=float64]
        Column j is window j read at ``linspace(0, sr/2, n_points)``.
    """
    return interp_map(view.shape[0], n_points)(view)


def target_profiles_db(view: np.ndarray, settings: Settings) -> np.ndarray:
    """The fingerprint targets of a view: each window's profile in dB.

    Each window is converted on its own (its own 80 dB floor); negative filter
    outputs count by their absolute value.

    Returns
    -------
    np.ndarray [shape=(n_points, windows), dtype=float64]
    """
    return amplitude_to_db(profiles(view, settings.n_points), top_db=settings.top_db, axis=0)


# --- the encoder cascade and the 25 metrics -------------------------------

#: Names of the 25 per-window metrics, in order, with units.
METRICS: tuple[tuple[str, str], ...] = (
    ("energy_below_250hz", "energy"),
    ("energy_250_500hz", "energy"),
    ("energy_500_2000hz", "energy"),
    ("energy_2000_4000hz", "energy"),
    ("energy_4000_8000hz", "energy"),
    ("energy_above_8000hz", "energy"),
    ("ratio_mid_bass", "ratio"),
    ("ratio_high_mid", "ratio"),
    ("spectral_centroid", "Hz"),
    ("spectral_spread", "Hz"),
    ("rolloff_85", "Hz"),
    ("spectral_flatness", "ratio"),
    ("spectral_slope", "dB/kHz"),
    ("spectral_crest", "ratio"),
    ("harmonic_peak_count", "count"),
    ("fundamental_estimate", "Hz"),
    ("harmonic_strength", "ratio"),
    ("formant_f1", "Hz"),
    ("formant_f2", "Hz"),
    ("formant_f3", "Hz"),
    ("formant_strength", "ratio"),
    ("peak_to_rms", "ratio"),
    ("top10_energy_share", "ratio"),
    ("spectral_entropy", "bits"),
    ("bottleneck_energy", "energy"),
)
METRIC_NAMES: tuple[str, ...] = tuple(name for name, _ in METRICS)
_EPS = 1e-12
#: Bins the cascade starts from (an n_fft = 2048 column).
CASCADE_BINS = 1025


def encoder_cascade(view: np.ndarray) -> list[np.ndarray]:
    """Max-pool every window by 2 five times: 1025 → 512 → 256 → 128 → 64 → 32 bins.

    A view with another bin count (the pooled views' 513) is first read onto
    1025 bins by linear interpolation. An odd last bin is dropped at each step.

    Returns
    -------
    list of np.ndarray [shape=(bins_k, windows), dtype=float64]
        The six layers, 1025 bins first.
    """
    layer = np.abs(np.asarray(view, dtype=np.float64))
    if layer.shape[0] != CASCADE_BINS:
        layer = interp_map(layer.shape[0], CASCADE_BINS)(layer)
    layers = [layer]
    for _ in range(5):
        n = layer.shape[0] // 2
        layer = layer[: 2 * n].reshape(n, 2, -1).max(axis=1)
        layers.append(layer)
    return layers


def _layer_freqs(n_bins: int, level: int, sr: int) -> np.ndarray:
    # Layer `level` bin i pools original bins i·2^level … (i+1)·2^level − 1; use their centre.
    step = 2**level
    centre = np.arange(n_bins) * step + (step - 1) / 2.0
    return centre * (sr / 2.0) / (CASCADE_BINS - 1)


def _local_peaks(p: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Interior local maxima (> left, ≥ right) above ``threshold`` (per column)."""
    peaks = np.zeros(p.shape, dtype=bool)
    peaks[1:-1] = (p[1:-1] > p[:-2]) & (p[1:-1] >= p[2:])
    return peaks & (p > threshold)


def window_metrics(view: np.ndarray, sr: int = 22050) -> np.ndarray:
    """The 25 metrics of every window of a view (see :data:`METRICS`).

    Parameters
    ----------
    view : np.ndarray [shape=(bins, windows)]
        Any view; its absolute value is measured.
    sr : int
        Sample rate, to put frequencies in Hz.

    Returns
    -------
    np.ndarray [shape=(windows, 25), dtype=float64]

    Notes
    -----
    Bands come from the 256-bin layer; bass is below 500 Hz, mid 500–4000 Hz,
    high above 4000 Hz for the two ratios. Centroid, spread, roll-off,
    flatness (of power), slope (of dB against kHz), crest and the dynamics
    come from the 64-bin layer; harmonic peaks (above 10 % of the window's
    maximum) from the 128-bin layer; formants (the first three peaks above
    30 % of the maximum between 500 and 2000 Hz; 0 Hz where absent) from the
    256-bin layer; the bottleneck energy from the 32-bin layer.
    """
    layers = encoder_cascade(view)
    l256, l128, l64, l32 = layers[2], layers[3], layers[4], layers[5]
    f256, f128, f64 = (_layer_freqs(layer.shape[0], lvl, sr) for layer, lvl in ((l256, 2), (l128, 3), (l64, 4)))
    out = {}

    e256 = l256**2
    edges = [(0, 250), (250, 500), (500, 2000), (2000, 4000), (4000, 8000), (8000, np.inf)]
    bands = [e256[(f256 >= lo) & (f256 < hi)].sum(axis=0) for lo, hi in edges]
    for (name, _), energy in zip(METRICS[:6], bands):
        out[name] = energy
    bass, mid, high = bands[0] + bands[1], bands[2] + bands[3], bands[4] + bands[5]
    out["ratio_mid_bass"] = mid / (bass + _EPS)
    out["ratio_high_mid"] = high / (mid + _EPS)

    p = l64
    total = p.sum(axis=0)
    col = f64[:, None]
    centroid = (col * p).sum(axis=0) / (total + _EPS)
    out["spectral_centroid"] = centroid
    out["spectral_spread"] = np.sqrt(((col - centroid) ** 2 * p).sum(axis=0) / (total + _EPS))
    reached = np.cumsum(p, axis=0) >= 0.85 * total
    out["rolloff_85"] = np.where(total > 0, f64[np.argmax(reached, axis=0)], 0.0)
    power = p**2 + _EPS
    out["spectral_flatness"] = np.exp(np.log(power).mean(axis=0)) / power.mean(axis=0)
    khz = f64 / 1000.0
    db = 20.0 * np.log10(p + _EPS)
    kc = khz - khz.mean()
    out["spectral_slope"] = (kc[:, None] * (db - db.mean(axis=0))).sum(axis=0) / (kc**2).sum()
    out["spectral_crest"] = p.max(axis=0) / (p.mean(axis=0) + _EPS)

    peaks = _local_peaks(l128, 0.1 * l128.max(axis=0))
    count = peaks.sum(axis=0)
    first = np.where(count > 0, f128[np.argmax(peaks, axis=0)], 0.0)
    last = np.where(count > 0, f128[l128.shape[0] - 1 - np.argmax(peaks[::-1], axis=0)], 0.0)
    out["harmonic_peak_count"] = count.astype(np.float64)
    out["fundamental_estimate"] = np.where(count >= 2, (last - first) / np.maximum(count - 1, 1), 0.0)
    peak_mean = (l128 * peaks).sum(axis=0) / np.maximum(count, 1)
    out["harmonic_strength"] = np.where(count > 0, peak_mean / (l128.mean(axis=0) + _EPS), 0.0)

    band = ((f256 >= 500) & (f256 <= 2000))[:, None]
    formant = _local_peaks(l256, 0.3 * l256.max(axis=0)) & band
    rank = np.cumsum(formant, axis=0)
    heights = []
    for r, name in enumerate(("formant_f1", "formant_f2", "formant_f3"), start=1):
        chosen = formant & (rank == r)
        out[name] = (f256[:, None] * chosen).sum(axis=0)
        heights.append((l256 * chosen).sum(axis=0))
    n_formants = np.minimum(rank[-1], 3)
    out["formant_strength"] = np.where(
        n_formants > 0, np.sum(heights, axis=0) / np.maximum(n_formants, 1) / (l256.max(axis=0) + _EPS), 0.0
    )

    e64 = p**2
    e_total = e64.sum(axis=0)
    out["peak_to_rms"] = p.max(axis=0) / (np.sqrt(e64.mean(axis=0)) + _EPS)
    top = int(np.ceil(0.1 * p.shape[0]))
    out["top10_energy_share"] = np.sort(e64, axis=0)[-top:].sum(axis=0) / (e_total + _EPS)
    q = e64 / (e_total + _EPS)
    out["spectral_entropy"] = -(q * np.log2(q + _EPS)).sum(axis=0)
    out["bottleneck_energy"] = (l32**2).sum(axis=0)
    return np.stack([out[name] for name in METRIC_NAMES], axis=1)
