"""One optimisation pass, and chains of passes (progressive runs).

Spec §5–6. A pass learns one EQ curve per window so that the working
spectrogram's 400-point dB profile approaches a view's fingerprint target,
then applies the curves. A chain runs passes one after another and ends with
the raw view (the "final polish").

Everything here works in dB. The spec's pass ends with ``W = 10^(Wdb/20)``
and the next pass starts with ``amplitude_to_db(W)``; that round trip is the
identity except for librosa's floors, so :func:`settle` applies just the
floors (``amin`` and ``max − top_db``) and skips two transcendental
functions per element. Tests check it against the literal round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._kernels import (
    apply_eq_and_peak,
    clipped_residual_sq_sum,
    closed_form_eq,
    closed_form_pass,
    peak_after_eq,
    polish_residual_sq_sum,
)
from .analysis import Analysis
from .errors import VsepError
from .fingerprint import AMIN, interp_map
from .progress import Progress, report
from .settings import Settings
from .views import RAW, VIEWS_BY_NAME

#: ``10·log10(amin²)``: the lowest level ``amplitude_to_db`` can return.
DB_FLOOR = float(10.0 * np.log10(AMIN**2))


# --- gradient descent on the EQ curves -------------------------------------


def closed_form_applies(learning_rate: float) -> bool:
    """True when each EQ value moves monotonically toward its goal (0 < 2·lr ≤ 1)."""
    return 0.0 < 2.0 * learning_rate <= 1.0


def uses_closed_form(settings: Settings) -> bool:
    """Whether passes use the closed form under these settings (raises if forced where invalid)."""
    if settings.pass_method == "iterative":
        return False
    if settings.pass_method == "closed" and not closed_form_applies(settings.learning_rate):
        raise VsepError(
            f"The closed form needs 0 < 2·learning_rate ≤ 1; learning_rate is {settings.learning_rate}. "
            "Use pass_method 'auto' or 'iterative'."
        )
    return closed_form_applies(settings.learning_rate)


def descend_iterative(gap: np.ndarray, learning_rate: float, iterations: int, clip_db: float):
    """The research code's loop, vectorised over windows and points.

    Parameters
    ----------
    gap : np.ndarray [shape=(points, windows)]
        ``d = target − profile`` for every window used.

    Returns
    -------
    sq_sums : np.ndarray [shape=(iterations,)]
        Σ (profile + eq − target)² over every element, before each update.
    eq : np.ndarray [shape=(points, windows)]
        The curves after ``iterations`` updates.
    """
    eq = np.zeros_like(gap, dtype=np.float64)
    sq_sums = np.empty(iterations)
    for k in range(iterations):
        residual = eq - gap
        flat = residual.ravel()
        sq_sums[k] = flat @ flat
        eq = np.clip(eq - learning_rate * 2.0 * residual, -clip_db, clip_db)
    return sq_sums, eq


def descend_closed(gap: np.ndarray, learning_rate: float, iterations: int, clip_db: float, *, curve: bool = True):
    """The same result as :func:`descend_iterative`, without iterating.

    With ρ = 1 − 2·lr in [0, 1), the unclipped curve after k updates is
    ``(1 − ρ^k)·d``; clipping only stops it, so ``eq_k = clip((1 − ρ^k)·d)``.
    An element with |d| > clip reaches the clip after
    ``k* = ⌊log(1 − clip/|d|) / log ρ⌋ + 1`` updates; before that its squared
    residual is ``ρ^(2k)·d²``, after it ``(|d| − clip)²``. Counting elements by
    ``k*`` (one ``bincount``) gives every iteration's loss in O(elements).

    Parameters
    ----------
    curve : bool
        If False, only the last loss is computed (cheaper; ``sq_sums`` has
        one entry).
    """
    if not closed_form_applies(learning_rate):
        raise VsepError("The closed form needs 0 < 2·learning_rate ≤ 1.")
    gap = np.asarray(gap, dtype=np.float64)
    rho = 1.0 - 2.0 * learning_rate
    eq = np.clip((1.0 - rho**iterations) * gap, -clip_db, clip_db)
    if not curve:
        residual = np.clip((1.0 - rho ** (iterations - 1)) * gap, -clip_db, clip_db) - gap
        flat = residual.ravel()
        return np.array([flat @ flat]), eq

    mag = np.abs(gap).ravel()
    sq = mag * mag
    will_clip = mag > clip_db
    # k*: the update count at which an element is clipped; iterations + 1 = not within the pass.
    # Only elements beyond the clip need it; the rest all sit in the last bin.
    clipping = mag[will_clip]
    if rho == 0.0:
        kstar = np.ones(clipping.shape, dtype=np.int64)
    else:
        ratio = np.log1p(-clip_db / clipping) / np.log(rho)
        kstar = np.floor(np.minimum(ratio, iterations)).astype(np.int64) + 1
    n_bins = iterations + 2
    # float64 explicitly: bincount of an empty array returns integers, even with float weights.
    unclipped_by_k = np.bincount(kstar, weights=sq[will_clip], minlength=n_bins).astype(np.float64)
    unclipped_by_k[iterations + 1] += sq[~will_clip].sum()
    clipped_by_k = np.bincount(kstar, weights=(clipping - clip_db) ** 2, minlength=n_bins).astype(np.float64)
    return _loss_curve(unclipped_by_k, clipped_by_k, rho, iterations), eq


def descend(gap: np.ndarray, settings: Settings, *, curve: bool = True):
    """Gradient descent as the settings say (closed form where it applies)."""
    if uses_closed_form(settings):
        return descend_closed(gap, settings.learning_rate, settings.iterations, settings.clip_db, curve=curve)
    sq_sums, eq = descend_iterative(gap, settings.learning_rate, settings.iterations, settings.clip_db)
    return (sq_sums if curve else sq_sums[-1:]), eq


def descend_between(target: np.ndarray, profile: np.ndarray, used: int, settings: Settings, *, curve: bool = True):
    """:func:`descend` on ``gap = target[:, :used] − profile[:, :used]``, the closed form compiled.

    The closed form runs as one fused loop (:mod:`vsep_core._kernels`) that
    never builds the gap; it equals :func:`descend_closed` (tests check it).

    Returns
    -------
    sq_sums : np.ndarray [shape=(iterations,) or (1,)]
    eq : np.ndarray [shape=(points, used), dtype=float64]
    """
    if not uses_closed_form(settings):
        return descend(target[:, :used] - profile[:, :used], settings, curve=curve)
    lr, iterations, clip_db = settings.learning_rate, settings.iterations, float(settings.clip_db)
    rho = 1.0 - 2.0 * lr
    target, profile = _c_float64(target), _c_float64(profile)
    _check_covers(target, profile, used)
    eq = np.empty((target.shape[0], used))
    if not curve:
        closed_form_eq(target, profile, used, 1.0 - rho**iterations, clip_db, eq)
        final = clipped_residual_sq_sum(target, profile, used, 1.0 - rho ** (iterations - 1), clip_db)
        return np.array([final]), eq
    unclipped_by_k, clipped_by_k = np.zeros(iterations + 2), np.zeros(iterations + 2)
    closed_form_pass(
        target,
        profile,
        used,
        1.0 - rho**iterations,
        clip_db,
        np.log(rho) if rho > 0.0 else -np.inf,
        iterations,
        eq,
        unclipped_by_k,
        clipped_by_k,
    )
    return _loss_curve(unclipped_by_k, clipped_by_k, rho, iterations), eq


def _loss_curve(unclipped_by_k: np.ndarray, clipped_by_k: np.ndarray, rho: float, iterations: int) -> np.ndarray:
    """Every iteration's Σ residual² from the per-``k*`` sums (see :func:`descend_closed`)."""
    steps = np.arange(1, iterations + 1)  # loss_k uses eq after k − 1 updates
    # Elements with k* ≥ k are still unclipped at loss_k; those with k* ≤ k − 1 are clipped.
    still_free = np.cumsum(unclipped_by_k[::-1])[::-1][steps]
    already_clipped = np.cumsum(clipped_by_k)[steps - 1]
    return rho ** (2.0 * (steps - 1)) * still_free + already_clipped


def _c_float64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _check_covers(target: np.ndarray, profile: np.ndarray, used: int) -> None:
    """The compiled loops do not check bounds: refuse arrays that do not cover the windows used."""
    if profile.shape[0] != target.shape[0] or min(target.shape[1], profile.shape[1]) < used:
        raise VsepError(
            f"Profiles of shape {profile.shape} do not match targets of shape {target.shape} over {used} windows."
        )


# --- one pass ---------------------------------------------------------------


@dataclass
class PassResult:
    """One pass of the optimiser.

    Attributes
    ----------
    view : str
        The view whose fingerprint was matched.
    loss_curve : np.ndarray [shape=(iterations,)]
        loss_1 … loss_K (spec §5.3).
    eq : np.ndarray [shape=(n_points, windows_used), dtype=float32] or None
        The learned EQ curves in dB (kept on request).
    """

    view: str
    loss_curve: np.ndarray
    eq: np.ndarray | None = None

    @property
    def final_loss(self) -> float:
        return float(self.loss_curve[-1])


def settle(db_out: np.ndarray, settings: Settings) -> np.ndarray:
    """What the next pass sees: ``amplitude_to_db(10^(db_out/20))``, in dB.

    The round trip through amplitude only applies librosa's floors: values
    below ``10·log10(amin²)`` rise to it, then everything below the matrix's
    maximum minus ``top_db`` rises to that.

    Parameters
    ----------
    db_out : np.ndarray [shape=(bins, windows), dtype=float32]
        A pass's output. ``NaN`` cannot occur here (inputs are finite).
    """
    peak = max(float(db_out.max()), DB_FLOOR)
    return np.maximum(db_out, np.float32(max(peak - settings.top_db, DB_FLOOR)))


def working_profiles(working_db: np.ndarray, settings: Settings) -> np.ndarray:
    """The 400-point profile of every window of the working matrix, in dB.

    Returns
    -------
    np.ndarray [shape=(n_points, windows), dtype=float64]
    """
    return interp_map(working_db.shape[0], settings.n_points)(working_db)


def run_pass(
    working_db: np.ndarray,
    analysis: Analysis,
    view: str,
    *,
    curve: bool = True,
    keep_eq: bool = False,
    apply: bool = True,
    profile: np.ndarray | None = None,
):
    """One pass: learn and apply the EQ curves that pull ``working_db`` toward ``view``.

    Parameters
    ----------
    working_db : np.ndarray [shape=(bins, windows), dtype=float32]
        The settled working matrix (see :func:`settle`).
    analysis : Analysis
    view : str
        Canonical view name.
    curve : bool
        Compute the whole loss curve (else only the final loss).
    keep_eq : bool
        Keep the learned curves in the result.
    apply : bool
        Apply the curves and return the new matrix (else ``None``).
    profile : np.ndarray, optional
        ``working_profiles(working_db)``, when the caller already has it.

    Returns
    -------
    result : PassResult
    db_out : np.ndarray [shape=(bins, windows), dtype=float32] or None
        ``working_db`` with the curves added to the windows the view covers
        (not settled).
    """
    settings = analysis.settings
    target = analysis.targets[view]
    used = min(target.shape[1], working_db.shape[1])
    if profile is None:
        profile = working_profiles(working_db[:, :used], settings)
    sq_sums, eq = descend_between(target, profile, used, settings, curve=curve)
    loss_curve = sq_sums / (settings.n_points * analysis.target_windows[view])
    result = PassResult(view=view, loss_curve=loss_curve, eq=eq.astype(np.float32) if keep_eq else None)
    if not apply:
        return result, None
    # db_out = working_db with interp(eq) added to the first `used` windows (one fused pass).
    db_out = np.empty_like(working_db)
    to_bins = interp_map(settings.n_points, working_db.shape[0])
    apply_eq_and_peak(working_db, np.ascontiguousarray(eq), to_bins.lower, to_bins.upper, to_bins.weight, used, db_out)
    return result, db_out


def polish_loss_after(
    working_db: np.ndarray, analysis: Analysis, view: str, *, profile: np.ndarray, eq_buffer: np.ndarray | None = None
) -> float:
    """The polish's final loss after one pass over ``view`` — the greedy search's inner step.

    Equal to ``run_pass`` → :func:`settle` → ``run_pass(RAW)`` under the closed
    form, but only the numbers the loss needs are computed (no loss curves, no
    pass output: its peak and the bins the polish reads are computed on the
    fly), in three fused compiled loops (:mod:`vsep_core._kernels`).

    Parameters
    ----------
    working_db : np.ndarray [shape=(bins, windows), dtype=float32]
        The settled working matrix after the step's prefix.
    profile : np.ndarray [shape=(n_points, windows)]
        ``working_profiles(working_db)`` (shared by the step's candidates).
    eq_buffer : np.ndarray [shape=(n_points, ≥ windows), dtype=float64], optional
        Scratch space for the EQ curves, reused across calls (fresh memory
        costs more than the arithmetic here).
    """
    settings = analysis.settings
    rho = 1.0 - 2.0 * settings.learning_rate
    bins, windows = working_db.shape
    target = analysis.targets[view]
    used = min(target.shape[1], windows)
    if eq_buffer is None or eq_buffer.shape[0] != target.shape[0] or eq_buffer.shape[1] < used:
        eq_buffer = np.empty((target.shape[0], used))
    eq = eq_buffer[:, :used]
    profile = _c_float64(profile)
    _check_covers(target, profile, used)
    closed_form_eq(target, profile, used, 1.0 - rho**settings.iterations, float(settings.clip_db), eq)
    to_bins = interp_map(settings.n_points, bins)
    peak = peak_after_eq(working_db, eq, to_bins.lower, to_bins.upper, to_bins.weight, used)
    floor = np.float32(max(max(float(peak), DB_FLOOR) - settings.top_db, DB_FLOOR))
    raw = analysis.targets[RAW]
    to_points = interp_map(bins, settings.n_points)
    total = polish_residual_sq_sum(
        working_db,
        eq,
        to_bins.lower,
        to_bins.upper,
        to_bins.weight,
        used,
        floor,
        to_points.lower,
        to_points.upper,
        to_points.weight,
        raw,
        min(raw.shape[1], windows),
        1.0 - rho ** (settings.iterations - 1),
        float(settings.clip_db),
    )
    return total / (settings.n_points * analysis.target_windows[RAW])


# --- chains -----------------------------------------------------------------


@dataclass
class ChainResult:
    """A run of passes: the slices in order, then the raw polish.

    Attributes
    ----------
    slices : tuple of str
        The slices, without the polish.
    passes : list of PassResult
        One per slice, then the polish.
    final_db : np.ndarray [shape=(bins, windows), dtype=float32] or None
        The polish's output (the spec's ``Wdb`` before ``10^(Wdb/20)``).
    """

    slices: tuple
    passes: list = field(default_factory=list)
    final_db: np.ndarray | None = None

    @property
    def final_loss(self) -> float:
        """The polish's final loss: the run's loss."""
        return self.passes[-1].final_loss

    @property
    def loss_curve(self) -> np.ndarray:
        """All passes' curves end to end (K × (N + 1) points)."""
        return np.concatenate([p.loss_curve for p in self.passes])


def check_views(analysis: Analysis, slices) -> None:
    """Raise :class:`VsepError` unless every slice is known and fingerprinted."""
    for name in slices:
        if name not in VIEWS_BY_NAME or name == RAW:
            raise VsepError(f"{name!r} is not one of the 18 slices.")
        if name not in analysis.targets:
            raise VsepError(f"{name} was not fingerprinted in this analysis.")


def run_chain(
    analysis: Analysis, slices, *, keep_eq: bool = False, start_db: np.ndarray | None = None, progress: Progress = None
) -> ChainResult:
    """Passes over ``slices`` in order from the mixture, then the raw polish.

    Parameters
    ----------
    analysis : Analysis
    slices : sequence of str
        Canonical slice names, in order (may be empty: polish only).
    keep_eq : bool
        Keep every pass's EQ curves (for the dashboard's heatmap).
    start_db : np.ndarray, optional
        Working matrix to start from (default: the mixture).
    progress : callable(fraction, label), optional

    Returns
    -------
    ChainResult
    """
    slices = tuple(slices)
    check_views(analysis, slices)
    working = analysis.mixture_db if start_db is None else start_db
    chain = ChainResult(slices=slices)
    for i, view in enumerate((*slices, RAW)):
        report(progress, i / (len(slices) + 1), f"Pass {i + 1}/{len(slices) + 1}: {view}")
        result, db_out = run_pass(working, analysis, view, keep_eq=keep_eq)
        chain.passes.append(result)
        if view == RAW:
            chain.final_db = db_out
        else:
            working = settle(db_out, analysis.settings)
    report(progress, 1.0, "Chain done")
    return chain


def run_progressive(
    analysis: Analysis, order, max_slices: int | None = None, *, on_run=None, progress: Progress = None
) -> list[ChainResult]:
    """Progressive runs N = 1 … ``max_slices`` over ``order`` (spec §6).

    Run N is passes over ``order[:N]`` from the mixture, then the polish. The
    prefix is shared: run N reuses run N − 1's working matrix.

    Parameters
    ----------
    order : sequence of str
        Slice order (default order: :data:`vsep_core.views.SLICE_NAMES`).
    max_slices : int, optional
        Largest N (default ``len(order)``).
    on_run : callable(ChainResult), optional
        Called with each run as soon as it is done (e.g. to write its WAV
        and drop ``final_db``, keeping memory bounded on long songs).

    Returns
    -------
    list of ChainResult
        One per N, each with ``final_db`` unless ``on_run`` cleared it.
    """
    order = tuple(order)
    max_slices = len(order) if max_slices is None else max_slices
    if not 1 <= max_slices <= len(order):
        raise VsepError(f"The number of slices must be from 1 to {len(order)}, got {max_slices}.")
    check_views(analysis, order[:max_slices])
    runs = []
    working = analysis.mixture_db
    prefix_passes = []
    for n in range(1, max_slices + 1):
        view = order[n - 1]
        report(progress, (n - 1) / max_slices, f"Progressive run N = {n}: {view}")
        result, db_out = run_pass(working, analysis, view)
        prefix_passes.append(result)
        working = settle(db_out, analysis.settings)
        polish, final_db = run_pass(working, analysis, RAW)
        run = ChainResult(slices=order[:n], passes=[*prefix_passes, polish], final_db=final_db)
        if on_run is not None:
            on_run(run)
        runs.append(run)
    report(progress, 1.0, "Progressive runs done")
    return runs
