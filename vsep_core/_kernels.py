"""Compiled inner loops of the greedy search (numba; it comes with librosa).

Scoring one greedy candidate touches the whole working matrix twice. In
numpy that is some fifteen passes over float64 temporaries; fused here it is
two passes with no temporaries, about ten times faster on a 3-minute song,
and the loops release the GIL so candidates score on all cores at once.
The arithmetic is the numpy path's, operation for operation, so results are
bit-identical to it except for the order of the final sum.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def apply_eq_and_peak(working, eq, lower, upper, weight, used, out):  # pragma: no cover - compiled
    """``out = float32(working + interp(eq))`` on the first ``used`` windows, ``working`` after; returns max(out).

    ``interp`` reads the EQ's points onto the bins as :class:`vsep_core.fingerprint.Interp`
    does (``lo + w·(hi − lo)`` in float64).
    """
    bins, windows = working.shape
    peak = -np.inf
    for b in range(bins):
        lo, hi, w = lower[b], upper[b], weight[b]
        for j in range(used):
            e_lo = eq[lo, j]
            value = np.float32(working[b, j] + (e_lo + (eq[hi, j] - e_lo) * w))
            out[b, j] = value
            if value > peak:
                peak = value
        for j in range(used, windows):
            value = working[b, j]
            out[b, j] = value
            if value > peak:
                peak = value
    return peak


@numba.njit(cache=True, nogil=True)
def polish_residual_sq_sum(db, floor, lower, upper, weight, target, used, gain, clip):  # pragma: no cover
    """Σ (clip(gain·gap) − gap)² with ``gap = target − profile(max(db, floor))`` over the first ``used`` windows."""
    total = 0.0
    for i in range(lower.shape[0]):
        lo, hi, w = lower[i], upper[i], weight[i]
        for j in range(used):
            a = np.float64(max(db[lo, j], floor))
            b = np.float64(max(db[hi, j], floor))
            gap = target[i, j] - (a + (b - a) * w)
            step = gain * gap
            if step > clip:
                step = clip
            elif step < -clip:
                step = -clip
            residual = step - gap
            total += residual * residual
    return total
