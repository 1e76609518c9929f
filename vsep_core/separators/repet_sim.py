"""REPET-SIM (blind): each frame's background is the median of its most similar frames.

The neighbour search and the median equal librosa's ``nn_filter`` (cosine
metric, sklearn's brute-force search) to the bit, without its memory.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import VsepError
from .base import Separation, check_mixture, check_stft, istft, refuse_vocal, stft
from .repet_kernels import gather_neighbours, middle_of_partitioned

#: sklearn's default ``working_memory`` (MiB): how librosa's neighbour search (sklearn's
#: brute-force ``NearestNeighbors``) splits the distance matrix into chunks of rows.
_KNN_WORKING_MEMORY_MIB = 1024

#: Frames per block in the neighbour search and the median (bounds the temporaries to tens of MB).
_FRAME_BLOCK = 256
_MEDIAN_BLOCK = 16


def _cosine_neighbours(data: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Each frame's ``n_neighbors`` nearest other frames by cosine distance, as sklearn finds them.

    The arithmetic of ``sklearn.neighbors.NearestNeighbors(metric="cosine").kneighbors()``
    (what ``librosa.segment.recurrence_matrix`` calls) step by step: rows scaled to unit
    norm in float32, one ``X @ X.T`` product per chunk of rows (the chunks sklearn's
    working memory gives), ``clip(1 − S, 0, 2)``, the diagonal zeroed when there is one
    chunk, ``argpartition`` per row, and the frame itself dropped (or, when it is not
    among the nearest, the nearest one, as sklearn does). Same numbers, same ties, so the
    same neighbours; the time goes into one matrix product instead of Python loops.

    Parameters
    ----------
    data : np.ndarray [shape=(t, d), dtype=float32, C-contiguous]
    n_neighbors : int
        ``< t``.

    Returns
    -------
    np.ndarray [shape=(t, n_neighbors), dtype=int64]
        Neighbour indices per frame, in no particular order.
    """
    t = len(data)
    unit = data.copy()
    norms = np.sqrt(np.einsum("ij,ij->i", unit, unit))
    norms[norms < 10 * np.finfo(norms.dtype).eps] = 1.0
    unit /= norms[:, None]
    wanted = n_neighbors + 1  # the query set is the training set: one more, then the frame itself goes
    chunk = max(1, min(t, int(_KNN_WORKING_MEMORY_MIB * 2**20 // (8 * t))))
    neighbours = np.empty((t, n_neighbors), dtype=np.int64)
    for chunk_start in range(0, t, chunk):  # one chunk up to ~11 600 frames (4.5 min at hop 512)
        chunk_stop = min(chunk_start + chunk, t)
        whole = chunk_start == 0 and chunk_stop == t
        # The same product as sklearn's: with one chunk, X @ X.T of one array (numpy may use syrk).
        dist = unit @ unit.T if whole else unit[chunk_start:chunk_stop] @ unit.T
        dist *= -1
        dist += 1
        np.clip(dist, 0.0, 2.0, out=dist)
        if whole:
            np.fill_diagonal(dist, 0.0)
        for start in range(0, chunk_stop - chunk_start, _FRAME_BLOCK):
            block = dist[start : start + _FRAME_BLOCK]
            rows = np.arange(chunk_start + start, chunk_start + start + len(block))
            nearest = np.argpartition(block, wanted - 1, axis=1)[:, :wanted]
            keep = nearest != rows[:, None]
            lost = np.flatnonzero(keep.all(axis=1))
            if len(lost):  # the frame is not among its nearest: sklearn drops the closest instead
                picked = nearest[lost]
                order = np.argsort(block[lost[:, None], picked], axis=1)
                closest = picked[np.arange(len(lost)), order[:, 0]]
                keep[lost] &= picked != closest[:, None]
            neighbours[rows] = nearest[keep].reshape(len(block), n_neighbors)
        del dist
    return neighbours


def _repet_neighbours(mag: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The frames REPET-SIM takes the median over, exactly as ``librosa.decompose.nn_filter``.

    ``librosa.segment.recurrence_matrix(mag, metric="cosine", width=width)`` with its
    defaults (``k = 2·⌈√(t − 2·width + 1)⌉``, connectivity mode, not symmetric): the
    ``k + 2·width`` nearest frames, less those closer than ``width`` in time; of the
    rest it keeps the first ``k`` in the order ``np.argsort`` gives a row of equal
    connectivity weights (so, as librosa does, by frame index rather than by distance).

    Returns
    -------
    kept : np.ndarray [shape=(t, k), dtype=int64]
        The kept frames of each frame, first ``counts[i]`` entries valid.
    counts : np.ndarray [shape=(t,), dtype=int64]
    """
    t = mag.shape[1]
    k = int(2 * np.ceil(np.sqrt(t - 2 * width + 1)))
    data = np.ascontiguousarray(mag.T)
    candidates = _cosine_neighbours(data, min(t - 1, k + 2 * width))
    frames = np.arange(t)[:, None]
    valid = np.abs(candidates - frames) >= width
    links = np.sort(np.where(valid, candidates, t), axis=1)  # valid frames first, ascending
    n_links = valid.sum(axis=1)
    kept = np.zeros((t, k), dtype=np.int64)
    for n in np.unique(n_links):  # a few distinct lengths (rows near the ends lose fewer frames)
        rows = np.flatnonzero(n_links == n)
        order = np.argsort(np.ones((1, n)))[0][:k]  # librosa sorts the links' equal weights
        kept[rows, : len(order)] = links[rows][:, order]
    return kept, np.minimum(n_links, k)


def _neighbour_median(mag: np.ndarray, kept: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per frame and bin, ``np.median`` of ``mag`` over the frame's kept neighbours.

    For each block of frames the neighbours' values are laid out bins-major, one
    ``np.partition`` (numpy's vectorised selection) finds the upper middle value, and the
    lower middle and the float32 mean follow as ``np.median`` computes them, so the result
    is ``np.median``'s to the bit. A frame without neighbours keeps its own values (librosa).

    Parameters
    ----------
    mag : np.ndarray [shape=(bins, t), dtype=float32]
    kept, counts : from :func:`_repet_neighbours`

    Returns
    -------
    np.ndarray [shape=(bins, t), dtype=float32]
    """
    frames_major = np.ascontiguousarray(mag.T, dtype=np.float32)  # (t, bins): a neighbour is one row
    out = frames_major.copy()

    def median_rows(rows: np.ndarray, count: int) -> None:
        values = np.empty((len(rows), frames_major.shape[1], count), dtype=np.float32)
        gather_neighbours(frames_major, kept, rows, count, values)
        values.partition(count // 2, axis=-1)
        medians = np.empty(values.shape[:2], dtype=np.float32)
        middle_of_partitioned(values, count, medians)
        out[rows] = medians

    jobs = []
    for count in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == count)
        jobs.extend((rows[i : i + _MEDIAN_BLOCK], int(count)) for i in range(0, len(rows), _MEDIAN_BLOCK))
    # The compiled loops and numpy's partition release the GIL: two threads share the work.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda job: median_rows(*job), jobs))
    return np.ascontiguousarray(out.T)


def _repet_background(mag: np.ndarray, width: int) -> np.ndarray:
    """``librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine", width=width)``, exactly.

    Parameters
    ----------
    mag : np.ndarray [shape=(bins, t), dtype=float32]
    width : int
        ``1 <= width < (t − 1) // 2``.

    Returns
    -------
    np.ndarray [shape=(bins, t), dtype=float32]
    """
    return _neighbour_median(mag, *_repet_neighbours(mag, width))


@dataclass(frozen=True)
class RepetSim:
    """REPET-SIM, as in librosa's vocal separation example.

    The background is each frame's median over its most similar frames
    (``librosa.decompose.nn_filter``, cosine distance, frames at least
    ``min_distance_s`` apart), clipped to the mixture; soft masks with
    margins 2 (background) and 10 (foreground) and power 2 split the
    mixture (Rafii & Pardo, "Music/voice separation using the similarity
    matrix", ISMIR 2012).

    Parameters
    ----------
    n_fft, hop_length : int
        2048 / 512, librosa's defaults.
    min_distance_s : float
        Shortest time between frames that may be averaged (2 s). Clips too
        short for it use the largest distance librosa allows.
    margin_background, margin_vocal, power : float
    """

    n_fft: int = 2048
    hop_length: int = 512
    min_distance_s: float = 2.0
    margin_background: float = 2.0
    margin_vocal: float = 10.0
    power: float = 2.0
    name: ClassVar[str] = "repet_sim"
    kind: ClassVar[str] = "blind"
    description: ClassVar[str] = "REPET-SIM: nearest-neighbour median background, soft masks (blind)"
    suited_targets: ClassVar[tuple] = ("vocals",)
    unsuited_note: ClassVar[str] = (
        "REPET-SIM's estimate is the non-repeating foreground (a voice over a "
        "repeating band), not a blind estimate of this stem"
    )

    def __post_init__(self):
        check_stft(self.n_fft, self.hop_length)

    def separate(self, mixture, sr, *, vocal=None) -> Separation:
        import librosa

        refuse_vocal(vocal, self.name)
        mixture = check_mixture(mixture, sr, self.n_fft)
        mix_stft = stft(mixture, self.n_fft, self.hop_length)
        mag = np.abs(mix_stft)
        n_frames = mag.shape[1]
        # librosa requires width < (frames − 1) // 2.
        width = min(
            int(librosa.time_to_frames(self.min_distance_s, sr=sr, hop_length=self.hop_length)), (n_frames - 1) // 2 - 1
        )
        if width < 1:
            raise VsepError(
                f"REPET-SIM needs at least 5 STFT frames; the mixture has {n_frames} ({len(mixture) / sr:.2f} s)."
            )
        background = _repet_background(mag, width)
        background = np.minimum(mag, background)
        foreground = mag - background
        mask_bg = librosa.util.softmask(background, self.margin_background * foreground, power=self.power)
        mask_fg = librosa.util.softmask(foreground, self.margin_vocal * background, power=self.power)
        n = len(mixture)
        return Separation(
            vocal=istft(mask_fg * mix_stft, self.n_fft, self.hop_length, n),
            instrumental=istft(mask_bg * mix_stft, self.n_fft, self.hop_length, n),
            info={"width_frames": width},
        )
