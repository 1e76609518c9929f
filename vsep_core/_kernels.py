"""Compiled inner loops (numba; it comes with librosa).

Each loop fuses what numpy would do in several passes over big temporaries
into one pass with none. The arithmetic is numpy's, operation for operation
(float64 where numpy promotes, float32 where it stores float32, no fused
multiply-add), so element-wise results are bit-identical to the numpy
expressions they replace. Two things can differ in the last bits: long sums
(added in another order) and ``log1p`` in :func:`closed_form_pass` (libm's,
not numpy's vectorised one, so an element exactly at a clipping boundary may
count one iteration earlier or later); tests compare those with tolerances.
The loops do not check bounds (callers check shapes) and release the GIL, so
callers may run them on several threads at once.

Only the long sums (:func:`_sum`) use ``fastmath``, so that LLVM can add in
vector lanes; that changes the order of the additions and nothing else.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def interp_rows(a, lower, upper, weight, out):  # pragma: no cover - compiled
    """``out[i] = a[lower[i]] + (a[upper[i]] − a[lower[i]])·weight[i]`` in float64, row by row."""
    for i in range(lower.shape[0]):
        lo_row, hi_row, w = a[lower[i]], a[upper[i]], weight[i]
        for j in range(a.shape[1]):
            lo = np.float64(lo_row[j])
            out[i, j] = lo + (np.float64(hi_row[j]) - lo) * w


@numba.njit(cache=True, nogil=True, inline="always")
def _clip(value, limit):  # pragma: no cover - compiled
    """``np.clip(value, -limit, limit)`` for one number."""
    if value > limit:
        return limit
    if value < -limit:
        return -limit
    return value


@numba.njit(cache=True, nogil=True)
def closed_form_eq(target, profile, used, gain, clip, eq):  # pragma: no cover - compiled
    """``eq = clip(gain·(target − profile), ±clip)`` on the first ``used`` windows (float64)."""
    for i in range(target.shape[0]):
        for j in range(used):
            eq[i, j] = _clip(gain * (target[i, j] - profile[i, j]), clip)


@numba.njit(cache=True, nogil=True)
def closed_form_pass(
    target, profile, used, gain, clip, log_rho, iterations, eq, unclipped_by_k, clipped_by_k
):  # pragma: no cover - compiled
    """One closed-form pass: the EQ curves and the counts behind every iteration's loss.

    ``eq`` is :func:`closed_form_eq`'s. For each element with gap ``d`` beyond
    the clip, ``k* = ⌊min(log(1 − clip/|d|) / log ρ, iterations)⌋ + 1`` (the
    update at which it reaches the clip); ``unclipped_by_k[k*] += d²`` and
    ``clipped_by_k[k*] += (|d| − clip)²``. Elements that never clip add ``d²``
    to ``unclipped_by_k[iterations + 1]``. With ``log_rho == -inf`` (ρ = 0)
    every clipping element has ``k* = 1``.
    """
    never = iterations + 1
    for i in range(target.shape[0]):
        for j in range(used):
            d = target[i, j] - profile[i, j]
            eq[i, j] = _clip(gain * d, clip)
            mag = abs(d)
            sq = mag * mag
            if mag > clip:
                if log_rho == -np.inf:
                    k = 1
                else:
                    ratio = np.log1p(-clip / mag) / log_rho
                    k = int(np.floor(min(ratio, np.float64(iterations)))) + 1
                unclipped_by_k[k] += sq
                over = mag - clip
                clipped_by_k[k] += over * over
            else:
                unclipped_by_k[never] += sq


@numba.njit(cache=True, nogil=True)
def clipped_residual_sq_sum(target, profile, used, gain, clip):  # pragma: no cover - compiled
    """Σ (clip(gain·d, ±clip) − d)² with ``d = target − profile`` over the first ``used`` windows."""
    total = 0.0
    for i in range(target.shape[0]):
        for j in range(used):
            d = target[i, j] - profile[i, j]
            residual = _clip(gain * d, clip) - d
            total += residual * residual
    return total


@numba.njit(cache=True, nogil=True)
def apply_eq_and_peak(working, eq, lower, upper, weight, used, out):  # pragma: no cover - compiled
    """``out = float32(working + interp(eq))`` on the first ``used`` windows, ``working`` after; returns max(out).

    ``interp`` reads the EQ's points onto the bins as :class:`vsep_core.fingerprint.Interp`
    does (``lo + w·(hi − lo)`` in float64).
    """
    bins, windows = working.shape
    peak = np.float32(-np.inf)
    for b in range(bins):
        if used > 0:
            _eq_row(working[b], eq[lower[b]], eq[upper[b]], weight[b], used, out[b])
        out[b, used:] = working[b, used:]
        if windows > 0:
            peak = max(peak, _max(out[b]))
    return peak


@numba.njit(cache=True, nogil=True)
def _max(a):  # pragma: no cover - compiled
    """max(a) of a non-empty array, in eight independent lanes (faster than a plain loop; still exact)."""
    n = a.shape[0]
    p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = a[0]
    i = 0
    while i + 8 <= n:
        p0 = max(p0, a[i])
        p1 = max(p1, a[i + 1])
        p2 = max(p2, a[i + 2])
        p3 = max(p3, a[i + 3])
        p4 = max(p4, a[i + 4])
        p5 = max(p5, a[i + 5])
        p6 = max(p6, a[i + 6])
        p7 = max(p7, a[i + 7])
        i += 8
    peak = max(max(max(p0, p1), max(p2, p3)), max(max(p4, p5), max(p6, p7)))
    while i < n:
        peak = max(peak, a[i])
        i += 1
    return peak


@numba.njit(cache=True, nogil=True, fastmath=True)
def _sum(a):  # pragma: no cover - compiled
    """Σ a, vectorised (in lanes, so in a different order from a plain loop's)."""
    total = 0.0
    for x in a:
        total += x
    return total


@numba.njit(cache=True, nogil=True)
def _eq_row(row, eq_lo, eq_hi, w, used, out):  # pragma: no cover - compiled
    """``out[:used] = float32(row + eq_lo + (eq_hi − eq_lo)·w)``: one bin of a pass's output."""
    for j in range(used):
        e = eq_lo[j]
        out[j] = np.float32(row[j] + (e + (eq_hi[j] - e) * w))


@numba.njit(cache=True, nogil=True)
def peak_after_eq(working, eq, lower, upper, weight, used):  # pragma: no cover - compiled
    """What :func:`apply_eq_and_peak` returns, without writing the matrix."""
    bins, windows = working.shape
    row_out = np.empty(max(used, 1), dtype=np.float32)
    peak = np.float32(-np.inf)
    for b in range(bins):
        if used > 0:
            _eq_row(working[b], eq[lower[b]], eq[upper[b]], weight[b], used, row_out)
            peak = max(peak, _max(row_out[:used]))
        if used < windows:
            peak = max(peak, _max(working[b, used:]))
    return peak


@numba.njit(cache=True, nogil=True)
def polish_residual_sq_sum(
    working, eq, bin_lower, bin_upper, bin_weight, used, floor, lower, upper, weight, target, used_raw, gain, clip
):  # pragma: no cover
    """The polish's final squared residual after a pass, reading only the bins it needs.

    The pass's output ``db = float32(working + interp(eq))`` (first ``used``
    windows; ``working`` after) is computed at the two bins each profile
    point reads and floored at ``floor``; then
    Σ (clip(gain·gap) − gap)² with ``gap = target − profile(max(db, floor))``
    over the first ``used_raw`` windows.
    """
    db_lo = np.empty(used_raw, dtype=np.float32)
    db_hi = np.empty(used_raw, dtype=np.float32)
    squares = np.empty(used_raw)
    head = min(used, used_raw)
    total = 0.0
    for i in range(lower.shape[0]):
        lo, hi, w = lower[i], upper[i], weight[i]
        _eq_row(working[lo], eq[bin_lower[lo]], eq[bin_upper[lo]], bin_weight[lo], head, db_lo)
        _eq_row(working[hi], eq[bin_lower[hi]], eq[bin_upper[hi]], bin_weight[hi], head, db_hi)
        db_lo[head:] = working[lo, head:used_raw]
        db_hi[head:] = working[hi, head:used_raw]
        target_row = target[i]
        for j in range(used_raw):
            a = np.float64(max(db_lo[j], floor))
            b = np.float64(max(db_hi[j], floor))
            gap = target_row[j] - (a + (b - a) * w)
            residual = _clip(gain * gap, clip) - gap
            squares[j] = residual * residual
        total += _sum(squares)
    return total


@numba.njit(cache=True, nogil=True)
def spectrum_frames(magnitude, phase_frames, out):  # pragma: no cover - compiled
    """``out[j, b] = magnitude[b, j] · phase_frames[j, b]`` (frames × bins), NaN and ±inf magnitudes as 0.

    The layout the batched inverse FFT wants; the magnitude is transposed in
    tiles that stay in cache.
    """
    bins, frames = magnitude.shape
    tile = 32
    for b0 in range(0, bins, tile):
        b1 = min(b0 + tile, bins)
        for j0 in range(0, frames, tile):
            j1 = min(j0 + tile, frames)
            for j in range(j0, j1):
                for b in range(b0, b1):
                    m = magnitude[b, j]
                    if not np.isfinite(m):
                        m = np.float32(0.0)
                    p = phase_frames[j, b]
                    out[j, b] = np.complex64(complex(m * p.real, m * p.imag))


@numba.njit(cache=True, nogil=True)
def overlap_add(signal, window, hop, out):  # pragma: no cover - compiled
    """``out[j·hop + n] += window[n] · signal[j, n]`` frame by frame, as librosa's istft adds them.

    The product and sum are float64 (the window is); storing rounds to
    ``out``'s dtype (float32 or float64), as numpy's ``+=`` does.
    """
    frames, n_fft = signal.shape
    for j in range(frames):
        base = j * hop
        frame = signal[j]
        for n in range(n_fft):
            out[base + n] = out[base + n] + window[n] * frame[n]


@numba.njit(cache=True, nogil=True)
def pcm16_from_float(y, out):  # pragma: no cover - compiled
    """16-bit PCM as libsndfile makes it from float: ``round(y·2³¹)`` clipped to int32, then ``>> 16``.

    (libsndfile converts float to full-scale int32, ties to even, and keeps the
    top 16 bits; NaN comes out as −32768 there, and here; tests check the bytes.)
    """
    for i in range(y.shape[0]):
        v = np.rint(np.float64(y[i]) * 2147483648.0)
        if v != v:
            v = -2147483648.0
        elif v > 2147483647.0:
            v = 2147483647.0
        elif v < -2147483648.0:
            v = -2147483648.0
        out[i] = np.int16(np.int64(v) >> 16)


@numba.njit(cache=True, nogil=True)
def window_sum_square(window_sq, hop, n_frames, out):  # pragma: no cover - compiled
    """``out[j·hop + n] += window_sq[n]`` frame by frame (librosa's ``window_sumsquare`` fill).

    Sums in float64, stored in ``out``'s dtype, as numpy's ``+=`` does.
    """
    n = out.shape[0]
    for j in range(n_frames):
        base = j * hop
        for k in range(min(window_sq.shape[0], n - base)):
            out[base + k] = out[base + k] + window_sq[k]


#: ``scipy.ndimage``'s test for a weight in the footprint (``fabs(w) > DBL_EPSILON``).
_DBL_EPSILON = 2.220446049250313e-16


@numba.njit(cache=True, nogil=True)
def correlate_3x3(x, weights, out):  # pragma: no cover - compiled
    """``scipy.ndimage.correlate(x, weights, mode="constant", cval=0.0)`` for a 3 × 3 ``weights``.

    ndimage's arithmetic, step for step: each output is a float64 sum, started
    at 0, over the weights larger than ``DBL_EPSILON`` in C order (each weight
    times the input as float64), stored in ``out``'s dtype. Outside the input
    the value is 0, which adds nothing to the sum, so it is skipped.
    """
    rows, cols = x.shape
    n = 0
    dr = np.empty(9, np.int64)
    dc = np.empty(9, np.int64)
    w = np.empty(9, np.float64)
    for a in range(3):
        for b in range(3):
            if abs(weights[a, b]) > _DBL_EPSILON:
                dr[n] = a - 1
                dc[n] = b - 1
                w[n] = weights[a, b]
                n += 1
    acc = np.empty(cols, np.float64)
    for i in range(rows):  # a row at a time, weight by weight: each sum in ndimage's order, in vector lanes
        acc[:] = 0.0
        for k in range(n):
            ii = i + dr[k]
            if ii < 0 or ii >= rows:
                continue
            src, wk, d = x[ii], w[k], dc[k]
            for j in range(max(0, -d), min(cols, cols - d)):
                acc[j] += wk * np.float64(src[j + d])
        for j in range(cols):
            out[i, j] = acc[j]
