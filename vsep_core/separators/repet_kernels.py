"""REPET-SIM's compiled loops (numba): gathering each frame's neighbours and taking their median."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def gather_neighbours(frames_major, kept, rows, count, out):  # pragma: no cover - compiled
    """``out[r, b, c] = frames_major[kept[rows[r], c], b]``: each frame's neighbours, bins-major."""
    for r in range(rows.shape[0]):
        for c in range(count):
            source = frames_major[kept[rows[r], c]]
            for b in range(source.shape[0]):
                out[r, b, c] = source[b]


@numba.njit(cache=True, nogil=True)
def middle_of_partitioned(values, count, out):  # pragma: no cover - compiled
    """np.median of each row of ``values[..., :count]`` once partitioned at ``count // 2``.

    The upper middle is in place; the lower middle (even counts) is the largest value
    left of it. Their mean is taken in float32, as ``np.median`` takes it.
    """
    mid = count // 2
    for r in range(values.shape[0]):
        for b in range(values.shape[1]):
            row = values[r, b]
            upper = row[mid]
            if count % 2:
                out[r, b] = upper
            else:
                lower = row[0]
                for c in range(1, mid):
                    if row[c] > lower:
                        lower = row[c]
                out[r, b] = (lower + upper) * np.float32(0.5)
