"""BSS Eval v4 (images; time-invariant or framewise filters), vectorised.

The figures are museval's ``bss_eval(references, estimates, window, hop,
filters_len=512, framewise_filters=False, bsseval_sources_version=False)``
(the SiSEC 2018 / MUSDB18 definition) for mono signals, computed with the
same arithmetic in a different order:

1. One Gram matrix ``G`` of the references and their delays 0 … L−1, and
   for each estimate its correlations ``D`` with the delayed references
   (lagged products over the whole signal, summed block by block with short
   FFTs; museval takes one FFT of the whole signal per pair).
2. The distortion filters, solved once for the whole signal (``G C = D``,
   ``G`` regularised by machine epsilon as museval does): ``C`` projects an
   estimate on all references, ``C_j`` on its own reference only.
3. Every frame at once: the frames of the references (each cut out and
   zero-padded, as museval cuts them) are convolved with the filters by one
   batched FFT, and the energies behind the four ratios are sums over the
   frames' rows. museval loops over frames and calls ``fftconvolve`` per
   frame and source.

With ``s`` the frame of reference ``j``, ``ŝ`` the frame of estimate ``j``
and ``P_j = C_j * s``, ``P = Σ_k C_k * s_k`` (full convolutions, L − 1
samples longer than the frame)::

    SDR = 10·log10(‖s‖² / ‖ŝ − s‖²)       ISR = 10·log10(‖s‖² / ‖P_j − s‖²)
    SIR = 10·log10(‖P_j‖² / ‖P − P_j‖²)   SAR = 10·log10(‖P‖² / ‖ŝ − P‖²)

A frame in which any reference or any estimate is all zeros is NaN for every
source (museval's rule). The references' spectra and factorised Gram matrix
are kept for the last reference set, so scoring many methods against one
pair computes them once.

``filters="framewise"`` is museval's ``framewise_filters=True``: every frame
is scored as a whole signal of its own (its own Gram matrix and filters).

Figures agree with museval's to about 1e-6 dB on real estimates. Above
~150 dB a figure is a ratio to rounding noise (an error term that is zero in
exact arithmetic, e.g. the SAR of the mixture taken as an estimate: it lies
in the span of the references) and both implementations print whatever
their last bits give.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import scipy.fft
import scipy.linalg

from .errors import VsepError

#: Distortion filter length (museval's and SiSEC's default).
FILTERS_LEN = 512

#: Block length of the lagged products (short FFTs instead of whole-signal ones).
_BLOCK = 16384
#: Blocks transformed at once, and frames projected at once (bounds the temporaries).
_BLOCK_CHUNK = 32
_FRAME_CHUNK = 16

#: Reference sets whose correlations are kept (one evaluation uses one set; it grows with the song); 0: off.
#: Threads share a kept set, read-only, except the LU pivots: see :func:`_lu_solve`.
_CACHE_SIZE = 1
_CACHE: "OrderedDict[tuple, _References]" = OrderedDict()
_CACHE_LOCK = threading.Lock()


class _DelayedBlocks:
    """Signals ``x`` cut into blocks of :data:`_BLOCK` samples, ready for :func:`_lagged_products`.

    ``P[k, j, a] = Σ_t x_k[t − a]·y_j[t]`` for lags ``a = 0 … L − 1`` (what museval gets
    from FFTs of the whole signals) is the sum over blocks of each block's own lagged
    product plus, at every block boundary, the products of the last ``L − 1`` samples of
    ``x`` before it with the first ``L − 1`` of ``y`` after it. Short FFTs, no
    whole-signal temporaries. Holds the conjugated spectra of ``x``'s zero-padded blocks
    and of its boundary tails.
    """

    def __init__(self, signals: np.ndarray, filters_len: int):
        m, n = signals.shape
        L = self.filters_len = filters_len
        self.n_samples = n
        self.block = n if n <= _BLOCK else max(_BLOCK, L)
        self.n_blocks = -(-n // self.block)
        self.n_fft = scipy.fft.next_fast_len(self.block + L - 1, real=True)
        self.n_fft_edge = scipy.fft.next_fast_len(max(2 * L - 2, 1), real=True)
        self.blocks = np.conj(scipy.fft.rfft(self.padded_blocks(signals, 0, self.n_blocks), axis=-1))
        self.tails = None
        if self.n_blocks > 1 and L > 1:
            # Boundary b: x's last L − 1 samples before it at [0, L − 1), y's first L − 1 after it
            # at [L − 1, 2L − 2) (see edge_heads): their products at lags a < L are the pairs across b.
            before = (np.arange(1, self.n_blocks) * self.block)[:, None] - (L - 1) + np.arange(L - 1)
            tails = np.zeros((m, self.n_blocks - 1, self.n_fft_edge))
            tails[..., : L - 1] = signals[:, before]
            self.tails = np.conj(scipy.fft.rfft(tails, axis=-1))

    def padded_blocks(self, signals: np.ndarray, first: int, stop: int) -> np.ndarray:
        """Blocks ``first … stop − 1`` of ``signals``, each zero-padded to ``n_fft``."""
        m, n, block = len(signals), self.n_samples, self.block
        out = np.zeros((m, stop - first, self.n_fft))
        start, end = first * block, min(stop * block, n)
        whole = (end - start) // block
        out[:, :whole, :block] = signals[:, start : start + whole * block].reshape(m, whole, block)
        if whole < stop - first:  # the last, partial block
            out[:, whole, : end - start - whole * block] = signals[:, start + whole * block : end]
        return out

    def edge_heads(self, signals: np.ndarray) -> np.ndarray:
        """Spectra of ``y``'s first ``L − 1`` samples after each boundary, placed at [L − 1, 2L − 2)."""
        L, n = self.filters_len, self.n_samples
        after = (np.arange(1, self.n_blocks) * self.block)[:, None] + np.arange(L - 1)
        heads = np.zeros((len(signals), self.n_blocks - 1, self.n_fft_edge))
        heads[..., L - 1 : 2 * L - 2] = np.where(after < n, signals[:, np.minimum(after, n - 1)], 0.0)
        return scipy.fft.rfft(heads, axis=-1)


def _lagged_products(delayed: _DelayedBlocks, signals: np.ndarray) -> np.ndarray:
    """``P[k, j, a] = Σ_t x_k[t − a]·y_j[t]``, ``a = 0 … L − 1``, for ``y = signals``.

    The blocks of ``y`` are transformed a few at a time (:data:`_BLOCK_CHUNK`), so the
    temporaries stay a few MB whatever the length.
    """
    L = delayed.filters_len
    within = 0.0
    for first in range(0, delayed.n_blocks, _BLOCK_CHUNK):
        stop = min(first + _BLOCK_CHUNK, delayed.n_blocks)
        spectra = scipy.fft.rfft(delayed.padded_blocks(signals, first, stop), axis=-1)
        within = within + np.einsum("kbf,jbf->kjf", delayed.blocks[:, first:stop], spectra)
    products = scipy.fft.irfft(within, n=delayed.n_fft, axis=-1)[..., :L]
    if delayed.tails is not None:
        across = np.einsum("kbf,jbf->kjf", delayed.tails, delayed.edge_heads(signals))
        products += scipy.fft.irfft(across, n=delayed.n_fft_edge, axis=-1)[..., :L]
    return products


class _References:
    """What depends on the references only: their spectra, the factorised Gram matrices, frames."""

    def __init__(self, references: np.ndarray, filters_len: int, starts: np.ndarray, window: int):
        n_src, n = references.shape
        L = filters_len
        self.delayed = _DelayedBlocks(references, L)  # kept: every estimate's right-hand sides need it
        # forward[i, j, a] = Σ_t r_i[t − a]·r_j[t] = R_ij[a] and R_ij[−a] = forward[j, i, a], where
        # R_ij[m] = Σ_t r_i[t]·r_j[t + m]; museval's block G[j, i][a, b] = R_ij[b − a] (a Toeplitz matrix).
        forward = _lagged_products(self.delayed, references)
        gram = np.empty((n_src * L, n_src * L))
        for i in range(n_src):
            for j in range(n_src):
                block = scipy.linalg.toeplitz(forward[j, i], forward[i, j])
                gram[j * L : (j + 1) * L, i * L : (i + 1) * L] = block
        eps = np.finfo(float).eps
        self.gram_lu = scipy.linalg.lu_factor(gram + eps * np.eye(len(gram)), check_finite=False)
        self.own_lu = [
            scipy.linalg.lu_factor(gram[j * L : (j + 1) * L, j * L : (j + 1) * L] + eps * np.eye(L), check_finite=False)
            for j in range(n_src)
        ]
        self.frames = _frames(references, starts, window)  # (n_src, n_frames, window)
        self.frame_fft = scipy.fft.next_fast_len(window + filters_len - 1, real=True)
        self.frame_spectra = scipy.fft.rfft(self.frames, n=self.frame_fft, axis=-1)  # (n_src, n_frames, bins)
        self.frame_energy = np.einsum("sfw,sfw->sf", self.frames, self.frames)
        self.frame_silent = ~np.any(self.frames != 0.0, axis=-1)


#: The two ways of fitting the distortion filters: once on the whole signal (SiSEC 2018, museval's
#: ``framewise_filters=False``) or afresh on every frame (BSS Eval v2/v3, ``framewise_filters=True``).
FILTER_MODES = ("global", "framewise")


def bss_eval_images(
    references,
    estimates,
    *,
    window: int,
    hop: int | None = None,
    filters_len: int = FILTERS_LEN,
    filters: str = "global",
    cache: bool = True,
):
    """Framewise SDR, ISR, SIR and SAR of each estimate (BSS Eval v4 images).

    Parameters
    ----------
    references : np.ndarray [shape=(n_sources, n)]
        The true sources (mono), none of them all zeros.
    estimates : np.ndarray [shape=(n_sources, n)]
        Estimate ``j`` is scored against reference ``j`` (no permutation);
        none of them all zeros.
    window : int
        Frame length in samples; ``window >= n`` gives one frame, the whole signal.
    hop : int, optional
        Distance between frame starts (``window``: frames without overlap).
    filters_len : int
        Distortion filter length L (512).
    filters : {"global", "framewise"}
        ``"global"``: time-invariant filters solved once on the whole signal
        (museval ``framewise_filters=False``, the SiSEC 2018 setting);
        ``"framewise"``: each frame's filters solved on that frame alone
        (museval ``framewise_filters=True``, as BSS Eval v2/v3). The global
        fit makes a frame's SIR/SAR split depend on the rest of the signal;
        the framewise one costs one 2L × 2L solve per frame.
    cache : bool
        Keep (and reuse) the references' correlations for the next call
        (False: a one-off reference set that must not evict the kept one).

    Returns
    -------
    sdr, isr, sir, sar : np.ndarray [shape=(n_sources, n_frames)]
        In dB. Frames are ``[t·hop, t·hop + window)`` for
        ``t < ⌊(n − window + hop) / hop⌋`` (a last partial frame is left out,
        as museval does); NaN in frames where any signal is all zeros,
        ``inf`` where an error term is exactly zero.

    Raises
    ------
    VsepError
        For shapes that disagree, non-finite samples, a silent signal or
        bad frame sizes.
    """
    references = np.asarray(references, dtype=np.float64)
    estimates = np.asarray(estimates, dtype=np.float64)
    if references.ndim != 2 or references.shape != estimates.shape or references.shape[0] < 1:
        raise VsepError(
            "BSS Eval needs references and estimates as (sources, samples) arrays of one shape, "
            f"got {references.shape} and {estimates.shape}."
        )
    if not (np.isfinite(references).all() and np.isfinite(estimates).all()):
        raise VsepError("BSS Eval got NaN or infinite samples.")
    for name, signals in (("reference", references), ("estimate", estimates)):
        silent = np.flatnonzero(~np.any(signals != 0.0, axis=1))
        if len(silent):
            raise VsepError(f"BSS Eval: {name} {int(silent[0])} is silent (all zeros); its figures are undefined.")
    n_src, n = references.shape
    if not (isinstance(filters_len, (int, np.integer)) and filters_len >= 1):
        raise VsepError(f"The filter length must be a positive whole number, got {filters_len!r}.")
    if not (isinstance(window, (int, np.integer)) and window >= 1):
        raise VsepError(f"The frame length must be a positive whole number of samples, got {window!r}.")
    hop = window if hop is None else hop
    if not (isinstance(hop, (int, np.integer)) and hop >= 1):
        raise VsepError(f"The hop must be a positive whole number of samples, got {hop!r}.")
    if filters not in FILTER_MODES:
        raise VsepError(f"BSS Eval filters must be one of {', '.join(FILTER_MODES)}, got {filters!r}.")
    window, hop, filters_len = int(window), int(hop), int(filters_len)
    if window >= n:  # museval: one frame, the whole signal
        window, starts = n, np.zeros(1, dtype=np.int64)
    else:
        starts = hop * np.arange((n - window + hop) // hop, dtype=np.int64)
    if filters == "framewise" and len(starts) > 1:
        return _framewise(references, estimates, starts, window, filters_len)
    refs = (
        _references(references, filters_len, starts, window)
        if cache
        else _References(references.copy(), filters_len, starts, window)
    )
    return _decompose(refs, estimates, starts, window, filters_len)


def _framewise(references: np.ndarray, estimates: np.ndarray, starts: np.ndarray, window: int, filters_len: int):
    """Each frame scored as a whole signal of its own: its filters fitted on that frame only.

    museval's ``framewise_filters=True`` computes the Gram matrix and the right-hand sides
    from the frame's samples alone (zero outside it), which is exactly the one-frame case of
    the global computation. Frames are not cached (a frame's factorisation is used once per
    estimate; keeping them would cost ~13 MB per frame).
    """
    out = np.full((4, len(references), len(starts)), np.nan)
    for t, start in enumerate(starts):
        r, e = references[:, start : start + window], estimates[:, start : start + window]
        if not (np.any(r != 0.0, axis=1).all() and np.any(e != 0.0, axis=1).all()):
            continue  # museval: a frame where any signal is silent is NaN for every source
        one = np.zeros(1, dtype=np.int64)
        out[:, :, t] = np.stack(
            _decompose(_References(r.copy(), filters_len, one, window), e, one, window, filters_len)
        )[:, :, 0]
    return out[0], out[1], out[2], out[3]


def _decompose(refs: "_References", estimates: np.ndarray, starts: np.ndarray, window: int, filters_len: int):
    """The four figures of every frame, the filters solved once with ``refs``' correlations."""
    n_src = len(estimates)
    L = filters_len
    # D[k, j, a] = <r_k delayed a, ŝ_j>: the right-hand sides of the normal equations.
    D = _lagged_products(refs.delayed, estimates)
    rhs = np.transpose(D, (0, 2, 1)).reshape(n_src * L, n_src)
    filters = _lu_solve(refs.gram_lu, rhs).reshape(n_src, L, n_src)
    own = np.stack([_lu_solve(refs.own_lu[j], D[j, j]) for j in range(n_src)])

    est_frames = _frames(estimates, starts, window)
    silent = refs.frame_silent.any(axis=0) | (~np.any(est_frames != 0.0, axis=-1)).any(axis=0)
    nfft, length = refs.frame_fft, window + L - 1
    filters_f = scipy.fft.rfft(filters, n=nfft, axis=1)  # (k, bins, j)
    own_f = scipy.fft.rfft(own, n=nfft, axis=1)  # (j, bins)
    out = np.empty((4, n_src, len(starts)))
    for first in range(0, len(starts), _FRAME_CHUNK):  # a few frames at a time: small temporaries
        rows = slice(first, first + _FRAME_CHUNK)
        spectra = refs.frame_spectra[:, rows]
        for j in range(n_src):
            s, e = refs.frames[j, rows], est_frames[j, rows]
            own_proj = scipy.fft.irfft(spectra[j] * own_f[j], n=nfft, axis=-1)[:, :length]
            proj = scipy.fft.irfft(np.einsum("kfb,kb->fb", spectra, filters_f[:, :, j]), n=nfft, axis=-1)[:, :length]
            # Outside the frame (its last L − 1 padded samples) s and ŝ are zero.
            energy = refs.frame_energy[j, rows]
            out[0, j, rows] = _ratio_db(energy, _energy(e - s))
            out[1, j, rows] = _ratio_db(energy, _energy(own_proj[:, :window] - s) + _energy(own_proj[:, window:]))
            out[2, j, rows] = _ratio_db(_energy(own_proj), _energy(proj - own_proj))
            out[3, j, rows] = _ratio_db(_energy(proj), _energy(e - proj[:, :window]) + _energy(proj[:, window:]))
    out[:, :, silent] = np.nan
    return out[0], out[1], out[2], out[3]


def _lu_solve(lu_and_piv: tuple, b: np.ndarray) -> np.ndarray:
    """``scipy.linalg.lu_solve`` with a private copy of the pivots.

    SciPy 1.17's LAPACK wrapper for ``getrs`` turns the 0-based pivots into 1-based
    ones *in place* around the call and back after it. Two threads solving with the
    same kept factorisation (the dashboard scores methods in parallel) therefore race
    on that array: wrong SIR figures, or a corrupted heap (``malloc(): invalid size``),
    both reproduced by ``tests/test_bss.py``'s threaded test with a shared array.
    A copy is a few kilobytes.
    """
    lu, piv = lu_and_piv
    return scipy.linalg.lu_solve((lu, piv.copy()), b, check_finite=False)


def _frames(signals: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """``signals[..., start:start + window]`` for every start: (n_signals, n_frames, window)."""
    if len(starts) == 1 or starts[1] - starts[0] == window:
        return signals[:, : len(starts) * window].reshape(len(signals), len(starts), window)
    return np.lib.stride_tricks.sliding_window_view(signals, window, axis=1)[:, starts]


def _energy(x: np.ndarray) -> np.ndarray:
    """Row sums of squares."""
    return np.einsum("ij,ij->i", x, x)


def _ratio_db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``10·log10(num / den)``; ``inf`` where ``den`` is zero (museval's ``_safe_db``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 10.0 * np.log10(num / den)
    return np.where(den == 0.0, np.inf, ratio)


def release_references() -> None:
    """Forget the kept references' correlations and frames.

    They serve the estimates scored one after another against one pair; on a whole song they are about
    200 MB, which a long-running server would otherwise hold until another pair is scored.
    """
    with _CACHE_LOCK:
        _CACHE.clear()


def _references(references: np.ndarray, filters_len: int, starts: np.ndarray, window: int) -> _References:
    """The references' correlations and frames, from a small cache keyed by content and framing."""
    digest = hashlib.sha1(np.ascontiguousarray(references).view(np.uint8)).hexdigest()
    key = (
        digest,
        references.shape,
        filters_len,
        window,
        len(starts),
        int(starts[1] - starts[0]) if len(starts) > 1 else 0,
        _BLOCK,
    )
    if _CACHE_SIZE == 0:
        return _References(references.copy(), filters_len, starts, window)
    # Built under the lock: methods scored in parallel threads wait for the one set, not build it twice.
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        made = _References(references.copy(), filters_len, starts, window)  # a copy: it keeps views
        _CACHE[key] = made
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return made
