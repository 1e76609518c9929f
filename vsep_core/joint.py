"""Joint matching: EQ curves optimised through the whole round trip, with Adam.

The seed method (:mod:`vsep_core.optimise`) matches one view's 400-point
profile at a time, each pass clipped to ±20 dB, and reads the working
spectrogram's profile in dB. Here every window's 400-point EQ curve is
learned at once, against the loss the product actually cares about: the
fingerprint of the *result*. One forward pass is

1. ``G = A E`` — each window's curve interpolated from the 400 points onto the
   spectrogram's bins (a fixed linear map ``A``);
2. ``Y = 10^((Mdb + G) / 20)`` — the mixture's magnitude (the first pass's
   working matrix, ``Analysis.mixture_db``) times that gain;
3. for every view ``v`` in the loss: ``Z = view_v(Y)`` (a 3×3 convolution, a
   2×2 pool, or ``Y`` itself), its 400-point profile ``p = B |Z|`` and the
   target's dB conversion: ``r = max(20·log10(max(p, amin)), max_col − 80)``;
4. ``loss = Σ_v w_v · mean((r_v − t_v)²)`` with ``t_v`` the vocal's fingerprint
   of that view (exactly what :func:`vsep_core.fingerprint.target_profiles_db`
   computes, so a perfect ``Y`` scores 0 on the raw view).

The gradient is analytic: each step has a small adjoint (interpolations are
sparse matrices and their transposes, a convolution's adjoint is the
correlation with the same kernel, a pool's routes the gradient back to the
elements it read, the 80 dB floor routes a floored element's gradient to its
window's maximum). :func:`loss_and_gradient` is checked against finite
differences in the tests. Adam (Kingma & Ba, 2015) updates the curves;
nothing is random, so a run is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numba
import numpy as np
from scipy import ndimage, sparse

from .analysis import Analysis
from .errors import VsepError
from .fingerprint import AMIN, interp_map
from .progress import Progress, report
from .views import RAW, VIEWS_BY_NAME

#: ``d(20·log10 x)/dx = DB_PER_LOG / x``; and ``d(10^(g/20))/dg = LN10_OVER_20 · 10^(g/20)``.
DB_PER_LOG = 20.0 / np.log(10.0)
LN10_OVER_20 = np.log(10.0) / 20.0


@dataclass(frozen=True)
class JointSettings:
    """How the joint optimiser runs.

    Attributes
    ----------
    steps : int
        Adam updates (300 by default: the loss has levelled off by then on 4.7 s pairs).
    step_size : float
        Adam's learning rate, in dB per step.
    views : tuple of (str, float)
        The views in the loss and their weights; the raw view alone by default
        (adding slices as targets lowered the separation quality in the
        prototype measurements; see RESULTS.md).
    clip_db : float or None
        Optional bound on every EQ value (±), applied after each update; ``None``: unbounded.
    beta1, beta2, eps : float
        Adam's moment decays and its denominator guard.
    """

    steps: int = 300
    step_size: float = 1.0
    views: tuple = ((RAW, 1.0),)
    clip_db: float | None = None
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        if not (isinstance(self.steps, (int, np.integer)) and 1 <= self.steps <= 100_000):
            raise VsepError(f"steps must be a whole number from 1 to 100000, got {self.steps!r}.")
        if not (np.isfinite(self.step_size) and 0 < self.step_size <= 20):
            raise VsepError(
                f"step_size must be in (0, 20] dB, got {self.step_size!r}: larger steps "
                "jump past any sensible EQ in one update."
            )
        if self.clip_db is not None and not (np.isfinite(self.clip_db) and 0 < self.clip_db <= 60):
            raise VsepError(f"clip_db must be in (0, 60] dB or None, got {self.clip_db!r}.")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and self.eps > 0):
            raise VsepError("Adam needs 0 ≤ beta1, beta2 < 1 and eps > 0.")
        views = tuple((str(name), float(weight)) for name, weight in self.views)
        if not views:
            raise VsepError("The joint loss needs at least one view.")
        for name, weight in views:
            if name not in VIEWS_BY_NAME:
                raise VsepError(f"Unknown view {name!r} in the joint loss.")
            if not (np.isfinite(weight) and weight > 0):
                raise VsepError(f"The weight of {name} must be positive, got {weight!r}.")
        if len({name for name, _ in views}) != len(views):
            raise VsepError("A view is listed twice in the joint loss.")
        object.__setattr__(self, "views", views)

    @property
    def view_names(self) -> tuple:
        return tuple(name for name, _ in self.views)


@dataclass
class JointResult:
    """What :func:`run_joint` learned.

    Attributes
    ----------
    eq : np.ndarray [shape=(n_points, windows), dtype=float64]
        Every window's EQ curve in dB.
    final_db : np.ndarray [shape=(bins, windows), dtype=float32]
        ``Mdb + A E``: the learned magnitude in dB (what reconstruction reads).
    loss_curve : np.ndarray [shape=(steps + 1,)]
        The joint loss before each update and after the last one.
    final_loss : float
    view_losses : dict of str → float
        Each view's unweighted loss at the end.
    """

    eq: np.ndarray
    final_db: np.ndarray
    loss_curve: np.ndarray
    final_loss: float
    view_losses: dict = field(default_factory=dict)


#: Views that each raised the vocal SI-SDR when added to the raw view's loss on every measured pair
#: (``attribute --method joint``; RESULTS.md): the smoothing slices. ``parse_views("smooth")`` gives them.
SMOOTH_VIEWS = (
    RAW,
    "slice_3_diagonal_up",
    "slice_4_diagonal_down",
    "slice_6_harmonic",
    "slice_8_lowpass",
    "slice_17_maxpool",
    "slice_18_avgpool",
)


def parse_views(text: str) -> tuple:
    """Views and weights from text such as ``"raw"`` or ``"raw:1,vertical:0.5,17:2"``.

    Each item is a view (``raw``/``0`` or a slice name, number or short name, as
    ``--order`` takes them) with an optional ``:weight`` (default 1). ``smooth``
    stands for :data:`SMOOTH_VIEWS`, each at weight 1.

    Raises
    ------
    VsepError
        For an unknown view, a weight that is not a positive number, or a view listed twice.
    """
    from .views import resolve_slices

    text = ",".join(SMOOTH_VIEWS) if str(text).strip() == "smooth" else str(text)
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, weight_text = item.partition(":")
        name = name.strip()
        if name in ("raw", "0", RAW):
            name = RAW
        else:
            name = resolve_slices([name])[0]
        try:
            weight = float(weight_text) if weight_text.strip() else 1.0
        except ValueError:
            raise VsepError(f"The weight of {name} must be a number, got {weight_text!r}.") from None
        out.append((name, weight))
    if not out:
        raise VsepError("Name at least one view for the joint loss (e.g. raw).")
    return JointSettings(views=tuple(out)).views  # validated: known, positive, not twice


# --- the fixed linear maps ---------------------------------------------------------


@lru_cache(maxsize=32)
def interp_matrix(n_from: int, n_to: int) -> sparse.csr_matrix:
    """:func:`vsep_core.fingerprint.interp_map` as a sparse ``(n_to, n_from)`` matrix (two entries a row)."""
    m = interp_map(n_from, n_to)
    rows = np.repeat(np.arange(n_to), 2)
    cols = np.stack([m.lower, m.upper], axis=1).ravel()
    vals = np.stack([1.0 - m.weight, m.weight], axis=1).ravel()
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n_to, n_from))


def _pool_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows read by a size-2 ndimage filter at outputs 0, 2, 4, …: (i − 1 reflected, i)."""
    out = np.arange(0, n, 2)
    return np.maximum(out - 1, 0), out  # index −1 reflects to 0 (ndimage's default "reflect" mode)


def view_forward(Y: np.ndarray, name: str):
    """A view of ``Y`` and what its adjoint needs. Equals :func:`vsep_core.views.compute_view` (tests)."""
    spec = VIEWS_BY_NAME[name]
    if spec.kernel is not None:
        kernel = spec.kernel.astype(np.float64)
        return ndimage.convolve(Y, kernel, mode="constant", cval=0.0), kernel
    if spec.pool is None:
        return Y, None
    r0, r1 = _pool_index(Y.shape[0])
    c0, c1 = _pool_index(Y.shape[1])
    # The four elements each pooled cell reads, stacked: (4, rows/2, cols/2).
    cells = np.stack([Y[np.ix_(r, c)] for r in (r0, r1) for c in (c0, c1)])
    if spec.pool == "max":
        which = np.argmax(cells, axis=0)
        return np.take_along_axis(cells, which[None], axis=0)[0], ("max", which, (r0, r1), (c0, c1))
    return cells.mean(axis=0), ("mean", None, (r0, r1), (c0, c1))


def view_adjoint(dZ: np.ndarray, name: str, aux, shape) -> np.ndarray:
    """The adjoint of :func:`view_forward`: the gradient on ``Y`` from the gradient on the view."""
    spec = VIEWS_BY_NAME[name]
    if spec.kernel is not None:
        # Convolution with zero padding: its adjoint is the correlation with the same kernel.
        return ndimage.correlate(dZ, aux, mode="constant", cval=0.0)
    if spec.pool is None:
        return dZ
    mode, which, rows, cols = aux
    dY = np.zeros(shape)
    for k, (r, c) in enumerate((r, c) for r in rows for c in cols):
        share = (which == k) * dZ if mode == "max" else dZ / 4.0
        # Reflection makes row 0 (or column 0) appear twice in the first cell: accumulate.
        np.add.at(dY, np.ix_(r, c), share)
    return dY


# --- loss and gradient ---------------------------------------------------------------


def _profile_db_and_adjoint(Z: np.ndarray, n_points: int, top_db: float):
    """``target_profiles_db``'s steps on a view, with what the backward pass needs."""
    B = interp_matrix(Z.shape[0], n_points)
    absZ = np.abs(Z)
    p = B @ absZ
    q = DB_PER_LOG * np.log(np.maximum(p, AMIN))
    peak_row = np.argmax(q, axis=0)
    peak = q[peak_row, np.arange(q.shape[1])]
    floored = q < peak - top_db
    r = np.where(floored, peak - top_db, q)
    return r, (B, p, floored, peak_row)


def loss_and_gradient(
    eq: np.ndarray, analysis: Analysis, joint: JointSettings, *, targets=None, with_gradient: bool = True
):
    """The joint loss of EQ curves ``eq`` and its gradient.

    Parameters
    ----------
    eq : np.ndarray [shape=(n_points, windows)]
    analysis : Analysis
        Holds the mixture (``mixture_db``) and the vocal's fingerprints of every view in the loss.
    joint : JointSettings
    targets : dict, optional
        Full-length targets per view (default: :func:`full_targets`).

    Returns
    -------
    loss : float
    gradient : np.ndarray [shape=eq.shape] or None
    view_losses : dict of str → float
    """
    settings = analysis.settings
    targets = full_targets(analysis, joint) if targets is None else targets
    n_bins, n_windows = analysis.mixture_db.shape
    A = interp_matrix(settings.n_points, n_bins)
    Y = np.power(10.0, (analysis.mixture_db.astype(np.float64) + A @ eq) / 20.0)
    dY = np.zeros_like(Y) if with_gradient else None
    total, view_losses = 0.0, {}
    for name, weight in joint.views:
        Z, aux = view_forward(Y, name)
        r, (B, p, floored, peak_row) = _profile_db_and_adjoint(Z, settings.n_points, settings.top_db)
        t = targets[name]
        diff = r - t
        view_loss = float(np.mean(diff * diff))
        view_losses[name] = view_loss
        total += weight * view_loss
        if not with_gradient:
            continue
        dr = (2.0 * weight / diff.size) * diff
        # The floor: a floored element follows its window's maximum.
        dq = np.where(floored, 0.0, dr)
        np.add.at(dq, (peak_row, np.arange(dq.shape[1])), np.where(floored, dr, 0.0).sum(axis=0))
        dp = np.where(p > AMIN, dq * DB_PER_LOG / np.maximum(p, AMIN), 0.0)
        dZ = np.sign(Z) * (B.T @ dp)
        dY += view_adjoint(dZ, name, aux, Y.shape)
    if not with_gradient:
        return total, None, view_losses
    gradient = A.T @ (dY * Y * LN10_OVER_20)
    return total, gradient, view_losses


def full_targets(analysis: Analysis, joint: JointSettings) -> dict:
    """Each view's vocal fingerprint, as compared with the result's (pooled views at their own width)."""
    out = {}
    for name in joint.view_names:
        if name not in analysis.targets:
            raise VsepError(f"The analysis has no fingerprint of {name}; analyse with that view.")
        t = analysis.targets[name]
        spec = VIEWS_BY_NAME[name]
        if spec.is_pooled and analysis.settings.pooled_windows == "expand":
            t = t[:, ::2]  # expand repeats each pooled window twice; the joint loss compares pooled views
        out[name] = np.asarray(t, dtype=np.float64)
    return out


# --- the raw view alone: one compiled loop per window -------------------------------------

# With the raw view alone, the loss is a sum over windows and each window's curve moves on its
# own, so every window runs all its Adam steps in one compiled loop (no matrix temporaries per
# step; numba comes with librosa and is used by vsep_core._kernels too). Same arithmetic as
# loss_and_gradient and run_joint; sums run in another order, so the two agree to rounding (tests).


@numba.njit(cache=True, nogil=True)
def _raw_windows(
    mag,
    targets,
    a_lo,
    a_hi,
    a_w,
    b_lo,
    b_hi,
    b_w,
    used_bins,
    steps,
    step_size,
    beta1,
    beta2,
    eps,
    clip,
    top_db,
    amin,
    scale,
    j0,
    j1,
    eq,
    losses,
):  # pragma: no cover - compiled
    n_points = eq.shape[1]
    n_bins = mag.shape[1]
    Y = np.zeros(n_bins)
    dY = np.zeros(n_bins)
    p = np.empty(n_points)
    q = np.empty(n_points)
    dq = np.empty(n_points)
    g = np.empty(n_points)
    m = np.empty(n_points)
    v = np.empty(n_points)
    c = np.log(10.0) / 20.0
    db_per_log = 20.0 / np.log(10.0)
    for j in range(j0, j1):
        e = eq[j]
        t = targets[j]
        m[:] = 0.0
        v[:] = 0.0
        b1t = 1.0
        b2t = 1.0
        for k in range(steps + 1):
            for u in range(used_bins.shape[0]):
                b = used_bins[u]
                lo = e[a_lo[b]]
                Y[b] = mag[j, b] * np.exp(c * (lo + (e[a_hi[b]] - lo) * a_w[b]))
            peak = -np.inf
            arg = 0
            for i in range(n_points):
                lo = Y[b_lo[i]]
                pi = lo + (Y[b_hi[i]] - lo) * b_w[i]
                p[i] = pi
                qi = db_per_log * np.log(max(pi, amin))
                q[i] = qi
                if qi > peak:
                    peak = qi
                    arg = i
            floor = peak - top_db
            loss = 0.0
            routed = 0.0
            for i in range(n_points):
                if q[i] < floor:
                    d = floor - t[i]
                    routed += scale * d
                    dq[i] = 0.0
                else:
                    d = q[i] - t[i]
                    dq[i] = scale * d
                loss += d * d
            dq[arg] += routed
            losses[j, k] = loss
            if k == steps:
                break
            for u in range(used_bins.shape[0]):
                dY[used_bins[u]] = 0.0
            for i in range(n_points):
                dp = dq[i] * db_per_log / p[i] if p[i] > amin else 0.0
                dY[b_lo[i]] += (1.0 - b_w[i]) * dp
                dY[b_hi[i]] += b_w[i] * dp
            g[:] = 0.0
            for u in range(used_bins.shape[0]):
                b = used_bins[u]
                dG = dY[b] * Y[b] * c
                g[a_lo[b]] += (1.0 - a_w[b]) * dG
                g[a_hi[b]] += a_w[b] * dG
            b1t *= beta1
            b2t *= beta2
            for i in range(n_points):
                m[i] = beta1 * m[i] + (1.0 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i]
                e[i] -= step_size * (m[i] / (1.0 - b1t)) / (np.sqrt(v[i] / (1.0 - b2t)) + eps)
                if clip > 0.0:
                    if e[i] > clip:
                        e[i] = clip
                    elif e[i] < -clip:
                        e[i] = -clip


def _run_raw_compiled(analysis: Analysis, joint: JointSettings, target: np.ndarray, progress: Progress):
    """Every window's Adam steps in the compiled loop, windows split over two threads; (eq, losses)."""
    from concurrent.futures import ThreadPoolExecutor

    settings = analysis.settings
    n_bins, n_windows = analysis.mixture_db.shape
    a = interp_map(settings.n_points, n_bins)
    b = interp_map(n_bins, settings.n_points)
    used_bins = np.unique(np.concatenate([b.lower, b.upper])).astype(np.intp)
    mag = np.ascontiguousarray(np.power(10.0, analysis.mixture_db.astype(np.float64).T / 20.0))
    targets = np.ascontiguousarray(target.T)
    eq = np.zeros((n_windows, settings.n_points))
    losses = np.zeros((n_windows, joint.steps + 1))
    weight = joint.views[0][1]
    scale = 2.0 * weight / (settings.n_points * n_windows)
    clip = 0.0 if joint.clip_db is None else float(joint.clip_db)
    chunks = np.linspace(0, n_windows, min(n_windows, 40) + 1).astype(int)
    done = [0]

    def one(bounds):
        _raw_windows(
            mag,
            targets,
            a.lower,
            a.upper,
            a.weight,
            b.lower,
            b.upper,
            b.weight,
            used_bins,
            joint.steps,
            joint.step_size,
            joint.beta1,
            joint.beta2,
            joint.eps,
            clip,
            settings.top_db,
            AMIN,
            scale,
            bounds[0],
            bounds[1],
            eq,
            losses,
        )
        done[0] += bounds[1] - bounds[0]
        report(progress, done[0] / n_windows, f"Joint matching: {done[0]} of {n_windows} windows")

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, zip(chunks[:-1], chunks[1:])))
    curve = weight * losses.sum(axis=0) / (settings.n_points * n_windows)
    return np.ascontiguousarray(eq.T), curve


# --- the optimiser ---------------------------------------------------------------------


def run_joint(
    analysis: Analysis, joint: JointSettings | None = None, *, progress: Progress = None, compiled: bool = True
) -> JointResult:
    """Learn every window's EQ curve at once with Adam (see the module docstring).

    Parameters
    ----------
    analysis : Analysis
        From :func:`vsep_core.analysis.analyse` with every view of ``joint.views``.
    joint : JointSettings, optional
    progress : callable(fraction, label), optional
    compiled : bool
        With the raw view alone, run every window's steps in one compiled loop
        (:func:`_raw_windows`; the same result to rounding, many times faster on
        long songs). ``False`` runs the numpy reference path.

    Returns
    -------
    JointResult
    """
    joint = joint or JointSettings()
    targets = full_targets(analysis, joint)
    if compiled and joint.view_names == (RAW,):
        eq, losses = _run_raw_compiled(analysis, joint, targets[RAW], progress)
        return _result(analysis, joint, eq, losses, targets)
    eq = np.zeros((analysis.settings.n_points, analysis.n_windows))
    m = np.zeros_like(eq)
    v = np.zeros_like(eq)
    losses = np.empty(joint.steps + 1)
    every = max(1, joint.steps // 50)
    for k in range(1, joint.steps + 1):
        loss, grad, _ = loss_and_gradient(eq, analysis, joint, targets=targets)
        losses[k - 1] = loss
        m = joint.beta1 * m + (1.0 - joint.beta1) * grad
        v = joint.beta2 * v + (1.0 - joint.beta2) * grad * grad
        m_hat = m / (1.0 - joint.beta1**k)
        v_hat = v / (1.0 - joint.beta2**k)
        eq -= joint.step_size * m_hat / (np.sqrt(v_hat) + joint.eps)
        if joint.clip_db is not None:
            np.clip(eq, -joint.clip_db, joint.clip_db, out=eq)
        if k % every == 0:
            report(progress, k / joint.steps, f"Joint matching: step {k} of {joint.steps}, loss {loss:.1f}")
    final_loss, _, _ = loss_and_gradient(eq, analysis, joint, targets=targets, with_gradient=False)
    losses[-1] = final_loss
    return _result(analysis, joint, eq, losses, targets)


def _result(analysis: Analysis, joint: JointSettings, eq: np.ndarray, losses: np.ndarray, targets) -> JointResult:
    final_loss, _, view_losses = loss_and_gradient(eq, analysis, joint, targets=targets, with_gradient=False)
    A = interp_matrix(analysis.settings.n_points, analysis.n_bins)
    final_db = (analysis.mixture_db.astype(np.float64) + A @ eq).astype(np.float32)
    return JointResult(
        eq=eq, final_db=final_db, loss_curve=losses, final_loss=float(final_loss), view_losses=view_losses
    )
