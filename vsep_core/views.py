"""The spectrogram and its 19 views: ``slice_0_raw`` and the 18 filtered slices.

Spec §2–3. Every view is computed from a magnitude spectrogram
``X [shape=(bins, frames), dtype=float32]`` with float32 kernels applied by
true 2-D convolution (``scipy.ndimage.convolve``, kernel flipped, zeros
outside; computed by a compiled loop with ndimage's arithmetic, bit for bit,
that releases the GIL), except the two pooled views, which halve both axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import dsp
from .dsp import hann_window, magphase  # noqa: F401  (re-exported: callers outside the engine)
from .errors import VsepError
from .settings import Settings


@dataclass(frozen=True)
class ViewSpec:
    """One view of the spectrogram.

    Attributes
    ----------
    index : int
        0 for the raw view, 1 … 18 for the slices.
    name : str
        Canonical name, e.g. ``"slice_12_edge_90deg"``.
    label : str
        Short name for plots, e.g. ``"edge 90°"``.
    description : str
        One line for the dashboard.
    kernel : np.ndarray [shape=(3, 3), dtype=float32] or None
        Convolution kernel (rows: frequency, columns: time); ``None`` for the
        raw and pooled views.
    pool : str or None
        ``"max"`` or ``"mean"`` for the pooled views.
    """

    index: int
    name: str
    label: str
    description: str
    kernel: np.ndarray | None = None
    pool: str | None = None

    @property
    def is_pooled(self) -> bool:
        return self.pool is not None

    def display_kernel(self) -> np.ndarray:
        """A 3×3 matrix to draw: the kernel, or the operation's footprint."""
        if self.kernel is not None:
            return self.kernel
        if self.pool is not None:  # 2×2 window, then every second row and column
            k = np.zeros((3, 3), dtype=np.float32)
            k[1:, 1:] = 1.0 if self.pool == "max" else 0.25
            return k
        k = np.zeros((3, 3), dtype=np.float32)
        k[1, 1] = 1.0
        return k


def _k(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def _edge_kernel(theta_deg: float) -> np.ndarray:
    # Spec: x = cos θ, y = sin θ, K = [[-y,0,y],[-x,0,x],[-y,0,y]] / (Σ|K| + 1e-8),
    # built in float64 and stored as float32, as the research code did.
    x, y = np.cos(np.deg2rad(theta_deg)), np.sin(np.deg2rad(theta_deg))
    k = np.array([[-y, 0, y], [-x, 0, x], [-y, 0, y]])
    return (k / (np.sum(np.abs(k)) + 1e-8)).astype(np.float32)


def _build_views() -> tuple[ViewSpec, ...]:
    views = [
        ViewSpec(0, "slice_0_raw", "raw", "The magnitude spectrogram itself (used for the final polish)."),
        ViewSpec(
            1,
            "slice_1_horizontal",
            "horizontal",
            "Sums three neighbouring frames: steady tones and sustained notes.",
            _k([[0, 0, 0], [1, 1, 1], [0, 0, 0]]),
        ),
        ViewSpec(
            2,
            "slice_2_vertical",
            "vertical",
            "Change over time: onsets and note boundaries (negative where sound fades).",
            _k([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
        ),
        ViewSpec(
            3,
            "slice_3_diagonal_up",
            "diagonal up",
            "Energy gliding along one diagonal: rising or falling pitch sweeps.",
            _k([[0, 0, 1], [0, 1, 0], [1, 0, 0]]),
        ),
        ViewSpec(
            4,
            "slice_4_diagonal_down",
            "diagonal down",
            "Energy gliding along the other diagonal: the opposite sweeps.",
            _k([[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
        ),
        ViewSpec(
            5,
            "slice_5_blob",
            "blob",
            "A small weighted blur: compact spots of energy.",
            _k([[0, 1, 0], [1, 2, 1], [0, 1, 0]]),
        ),
        ViewSpec(
            6,
            "slice_6_harmonic",
            "harmonic",
            "Bins above and below, not the centre: stacked partials and wide bands.",
            _k([[1, 1, 1], [0, 0, 0], [1, 1, 1]]),
        ),
        ViewSpec(
            7,
            "slice_7_highpass",
            "highpass",
            "Centre minus its eight neighbours: sharp detail, transients and noise.",
            _k([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
        ),
        ViewSpec(
            8,
            "slice_8_lowpass",
            "lowpass",
            "The 3×3 average: the smooth spectral envelope.",
            np.full((3, 3), 1.0 / 9.0, dtype=np.float32),
        ),
    ]
    for offset, theta in enumerate((22.5, 45.0, 67.5, 90.0, 112.5, 135.0, 157.5)):
        deg = int(theta)
        views.append(
            ViewSpec(
                9 + offset,
                f"slice_{9 + offset}_edge_{deg}deg",
                f"edge {theta:g}°",
                f"Oriented edge detector at {theta:g}°: boundaries that run at that angle.",
                _edge_kernel(theta),
            )
        )
    views += [
        ViewSpec(
            16,
            "slice_16_laplacian",
            "laplacian",
            "Centre minus its four neighbours: isolated peaks and dips.",
            _k([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]),
        ),
        ViewSpec(
            17,
            "slice_17_maxpool",
            "max pool",
            "2×2 maximum, every second bin and frame: the loudest detail at half resolution.",
            pool="max",
        ),
        ViewSpec(
            18,
            "slice_18_avgpool",
            "average pool",
            "2×2 average, every second bin and frame: the mean level at half resolution.",
            pool="mean",
        ),
    ]
    for v in views:
        if v.kernel is not None:
            v.kernel.setflags(write=False)
    return tuple(views)


#: All 19 views, in index order.
VIEWS: tuple[ViewSpec, ...] = _build_views()
VIEWS_BY_NAME: dict[str, ViewSpec] = {v.name: v for v in VIEWS}
RAW = VIEWS[0].name
#: The 18 slices in the default order (1, 2, …, 18).
SLICE_NAMES: tuple[str, ...] = tuple(v.name for v in VIEWS[1:])
VIEW_NAMES: tuple[str, ...] = tuple(v.name for v in VIEWS)


def resolve_slices(names) -> list[str]:
    """Canonical names for a list of slice names, numbers or short names.

    Accepts ``"slice_8_lowpass"``, ``"lowpass"``, ``"8"`` or ``8``.

    Raises
    ------
    VsepError
        For an unknown name, the raw view (it is always the polish, never a
        slice), or a slice listed twice.
    """
    out = []
    for item in names:
        key = str(item).strip()
        match = VIEWS_BY_NAME.get(key)
        if match is None:
            for v in VIEWS:
                if key == str(v.index) or key == v.name.split("_", 2)[-1]:
                    match = v
                    break
        if match is None:
            raise VsepError(
                f"Unknown slice {item!r}. Slices are named slice_1_horizontal … slice_18_avgpool, "
                "or by number 1–18, or by short name (e.g. lowpass, edge_90deg)."
            )
        if match.index == 0:
            raise VsepError("slice_0_raw is the final polish of every run, not a slice to choose.")
        if match.name in out:
            raise VsepError(f"Slice {match.name} is listed twice.")
        out.append(match.name)
    return out


def stft(y: np.ndarray, settings: Settings, *, hop_length: int | None = None) -> np.ndarray:
    """The engine's STFT of ``y``: :func:`vsep_core.dsp.stft` at the settings' FFT size and hop.

    ``hop_length`` defaults to ``settings.hop_for(len(y))``.

    Returns
    -------
    np.ndarray [shape=(1 + n_fft // 2, frames), dtype=complex64]
    """
    hop = hop_length or settings.hop_for(len(np.asarray(y)))
    return dsp.stft(y, n_fft=settings.n_fft, hop_length=hop)


def compute_view(X: np.ndarray, name: str) -> np.ndarray:
    """One view of a magnitude spectrogram.

    Parameters
    ----------
    X : np.ndarray [shape=(bins, frames), dtype=float32]
    name : str
        A canonical view name (see :data:`VIEW_NAMES`).

    Returns
    -------
    np.ndarray [shape=(bins, frames) or (⌈bins/2⌉, ⌈frames/2⌉), dtype=float32]
    """
    spec = VIEWS_BY_NAME.get(name)
    if spec is None:
        raise VsepError(f"Unknown view {name!r}.")
    X = np.asarray(X, dtype=np.float32)
    if spec.kernel is not None:
        return convolve_3x3(X, spec.kernel)
    from scipy import ndimage  # the pools only (its import is a second of a command's start-up)

    if spec.pool == "max":
        return ndimage.maximum_filter(X, size=(2, 2))[::2, ::2]
    if spec.pool == "mean":
        return ndimage.uniform_filter(X, size=(2, 2))[::2, ::2]
    return X


def convolve_3x3(X: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.convolve(X, kernel, mode="constant", cval=0.0)`` for a 3 × 3 kernel, bit for bit.

    A compiled loop (:func:`vsep_core._kernels.correlate_3x3`, the flipped
    kernel) that releases the GIL, so views can be made on several threads.

    Parameters
    ----------
    X : np.ndarray [shape=(rows, columns), dtype=float32]
    kernel : np.ndarray [shape=(3, 3)]

    Returns
    -------
    np.ndarray [shape=(rows, columns), dtype=float32]
    """
    from ._kernels import correlate_3x3

    X = np.ascontiguousarray(X, dtype=np.float32)
    weights = np.ascontiguousarray(np.asarray(kernel, dtype=np.float64)[::-1, ::-1])
    out = np.empty(X.shape, dtype=np.float32)
    if X.size:
        correlate_3x3(X, weights, out)
    return out


def view_column(mag: np.ndarray, name: str, window: int) -> np.ndarray:
    """One window (column) of a view, computed on a few frames around it.

    Equals ``compute_view(mag, name)[:, window]`` (for the pooled views, which
    have half as many columns, column ``window // 2``) without filtering the
    whole song: the 3 × 3 kernels reach one frame either side, the 2 × 2 pools
    one frame back, so a few frames around the window give the same numbers.

    Parameters
    ----------
    mag : np.ndarray [shape=(bins, frames)]
    name : str
        A canonical view name.
    window : int
        Frame index, 0 … frames − 1.

    Returns
    -------
    np.ndarray [shape=(bins,) or (⌈bins/2⌉,), dtype=float32]
    """
    spec = VIEWS_BY_NAME.get(name)
    if spec is None:
        raise VsepError(f"Unknown view {name!r}.")
    n = mag.shape[1]
    if not (isinstance(window, (int, np.integer)) and 0 <= window < n):
        raise VsepError(f"Window {window!r} is outside the spectrogram's 0 … {n - 1}.")
    if spec.is_pooled:
        col = int(window) // 2
        start = max(0, 2 * col - 4)  # even, so the pooled grid stays aligned
        stop = min(n, 2 * col + 6)
        return compute_view(mag[:, start:stop], name)[:, col - start // 2]
    start, stop = max(0, window - 2), min(n, window + 3)
    return compute_view(mag[:, start:stop], name)[:, window - start]
