"""The one signal-processing module: window, STFT, inverse STFT, magphase, PCM.

Every function here equals librosa 0.11's (or libsndfile's, for PCM) to the
bit, and tests check it. They are written out rather than called because
librosa's spectrum module imports ``scipy.signal`` (over a second per
process) and its inverse STFT overlap-adds frame by frame in Python; here the
heavy steps are one batched FFT and one compiled loop. The engine
(:mod:`vsep_core.analysis`, :mod:`vsep_core.reconstruct`), the baselines and
the writers all use these functions, so there is one STFT in the project.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .errors import VsepError


def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window, ``scipy.signal.get_window("hann", n, fftbins=True)`` to the bit for n ≥ 2.

    Written out (scipy's ``general_cosine`` steps on ``n + 1`` points, last
    dropped) because importing ``scipy.signal`` costs over a second.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    fac = np.linspace(-np.pi, np.pi, n + 1)
    w = np.zeros(n + 1)
    w += 0.5 * np.cos(0 * fac)
    w += 0.5 * np.cos(1 * fac)
    return w[:n]


@lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    w = hann_window(n)
    w.setflags(write=False)
    return w


def stft(y: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Complex STFT with librosa 0.11's defaults: Hann window, centred, zero padding.

    Equal to ``librosa.stft(y, n_fft=n_fft, hop_length=hop_length)`` to the
    bit: zero-pad by ``n_fft // 2``, window in float64, real FFT in float64,
    stored as complex64 in librosa's Fortran order.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        One channel; converted to float32 as librosa's callers here do.
    n_fft, hop_length : int

    Returns
    -------
    np.ndarray [shape=(1 + n_fft // 2, frames), dtype=complex64]
        Fortran order (each frame contiguous), as librosa's.

    Raises
    ------
    VsepError
        For a signal that is not one finite channel, or a hop below 1 (the
        checks librosa's ``stft`` made).
    """
    import scipy.fft

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise VsepError(f"The STFT takes one channel (a 1-D signal); this one has shape {y.shape}.")
    if not np.isfinite(y).all():
        raise VsepError("The signal has NaN or infinite samples; the STFT needs finite audio.")
    if not (isinstance(hop_length, (int, np.integer)) and hop_length >= 1):
        raise VsepError(f"The hop must be a whole number of samples, at least 1; got {hop_length!r}.")
    if not (isinstance(n_fft, (int, np.integer)) and n_fft >= 2):
        raise VsepError(f"The FFT size must be a whole number, at least 2; got {n_fft!r}.")
    half = n_fft // 2
    padded = np.zeros(len(y) + 2 * half, dtype=np.float32)
    padded[half : half + len(y)] = y
    n_frames = 1 + (len(padded) - n_fft) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    window = _hann(n_fft)
    out = np.empty((n_frames, 1 + half), dtype=np.complex64)
    block = max(1, (1 << 24) // (8 * n_fft))  # ~16 MB of float64 frames at a time
    for start in range(0, n_frames, block):
        stop = min(start + block, n_frames)
        out[start:stop] = scipy.fft.rfft(window * frames[start:stop], axis=-1)
    return out.T


def magphase(D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude and unit phasor, ``librosa.magphase(D)`` step for step (phase 1+0j where |D| = 0).

    Returns
    -------
    mag : np.ndarray [shape=D.shape, real]
    phase : np.ndarray [shape=D.shape, complex]
    """
    mag = np.abs(D)
    zeros_to_ones = mag == 0
    mag_nonzero = mag + zeros_to_ones
    phase = np.empty_like(D, dtype=np.result_type(D.dtype, np.complex64))
    phase.real = D.real / mag_nonzero + zeros_to_ones
    phase.imag = D.imag / mag_nonzero
    return mag, phase


@lru_cache(maxsize=4)  # a few songs' sums: each is one float per sample
def window_sum_square(n_fft: int, hop_length: int, n_frames: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The Hann window and ``librosa.filters.window_sumsquare``, as librosa's istft uses them.

    Where the sum is not above the dtype's ``tiny`` it is replaced by 1
    (librosa divides only where it is above; dividing by 1 is the same).

    Returns
    -------
    window : np.ndarray [shape=(n_fft,), dtype=float64]
    norm : np.ndarray [shape=(n_fft + hop_length · (n_frames − 1),), dtype=dtype]
        Read-only (cached).
    """
    from ._kernels import window_sum_square as fill

    dtype = np.dtype(dtype)
    window = hann_window(n_fft)
    norm = np.zeros(n_fft + hop_length * (n_frames - 1), dtype=dtype)
    fill(window**2, hop_length, n_frames, norm)
    norm = np.where(norm > np.finfo(dtype).tiny, norm, dtype.type(1.0)).astype(dtype)
    window.setflags(write=False)
    norm.setflags(write=False)
    return window, norm


def istft_frames(frames: np.ndarray, *, hop_length: int, n_fft: int, length: int | None = None) -> np.ndarray:
    """``librosa.istft`` (Hann window, centred) of a frames-first spectrogram.

    librosa inverts the frames in blocks and overlap-adds them one by one;
    here every frame is inverted in one batched FFT and the windowed frames
    are overlap-added in one compiled loop, in librosa's order and precision
    (window in float64, signal in the output's precision), so the result is
    the same to the bit.

    Parameters
    ----------
    frames : np.ndarray [shape=(windows, 1 + n_fft // 2), complex64 or complex128]
    hop_length, n_fft : int
    length : int, optional
        Trim or zero-pad the output to this many samples (librosa's
        ``length``); without it, ``(windows − 1) · hop_length`` samples.

    Returns
    -------
    np.ndarray [shape=(length or (windows − 1) · hop_length,), dtype=float32 (float64 for complex128)]

    Raises
    ------
    VsepError
        For a spectrogram whose bin count does not match ``n_fft``, or a bad hop or length.
    """
    import scipy.fft

    from ._kernels import overlap_add

    frames = np.asarray(frames)
    if frames.ndim != 2 or frames.shape[1] != 1 + n_fft // 2:
        raise VsepError(
            f"The spectrogram has shape {frames.shape}; the inverse STFT with n_fft {n_fft} "
            f"needs (frames, {1 + n_fft // 2})."
        )
    if not (isinstance(hop_length, (int, np.integer)) and hop_length >= 1):
        raise VsepError(f"The hop must be a whole number of samples, at least 1; got {hop_length!r}.")
    if length is not None and not (isinstance(length, (int, np.integer)) and length >= 0):
        raise VsepError(f"The length must be a whole number of samples; got {length!r}.")
    dtype = np.float64 if frames.dtype == np.complex128 else np.float32
    frames = frames.astype(np.complex128 if dtype == np.float64 else np.complex64, copy=False)
    start = n_fft // 2
    if length:  # librosa inverts only the frames that reach into the output
        n_frames = min(frames.shape[0], int(np.ceil((length + 2 * start) / hop_length)))
        frames = frames[:n_frames]
        n_out = length
    else:
        n_frames = frames.shape[0]
        n_out = max(hop_length * (n_frames - 1), 0)
    if n_frames == 0:
        return np.zeros(n_out, dtype=dtype)
    window, norm = window_sum_square(n_fft, hop_length, n_frames, dtype)
    signal = scipy.fft.irfft(frames, n=n_fft, axis=-1, workers=-1)
    full = np.zeros(n_fft + hop_length * (n_frames - 1), dtype=dtype)
    overlap_add(signal, window, hop_length, full)
    y = np.zeros(n_out, dtype=dtype)
    n = min(n_out, len(full) - start)
    y[:n] = full[start : start + n]
    np.divide(y[:n], norm[start : start + n], out=y[:n])
    return y


def istft(D: np.ndarray, *, n_fft: int, hop_length: int, length: int | None = None) -> np.ndarray:
    """``librosa.istft(D, n_fft=…, hop_length=…, length=…)`` to the bit, for ``D`` in librosa's layout.

    Parameters
    ----------
    D : np.ndarray [shape=(1 + n_fft // 2, frames), complex]

    Returns
    -------
    np.ndarray [shape=(length or (frames − 1) · hop_length,)]
        See :func:`istft_frames`.
    """
    D = np.asarray(D)
    if D.ndim != 2:
        raise VsepError(f"The inverse STFT takes one spectrogram (bins, frames); this one has shape {D.shape}.")
    # librosa's STFT is Fortran-ordered, so its transpose is contiguous and this copies nothing.
    return istft_frames(np.ascontiguousarray(D.T), n_fft=n_fft, hop_length=hop_length, length=length)


def pcm16(y: np.ndarray) -> np.ndarray:
    """16-bit PCM samples of a float signal, exactly as libsndfile converts them.

    Full scale is ±1; beyond it samples clip; NaN becomes −32768, as in
    libsndfile (tests compare the bytes).

    Returns
    -------
    np.ndarray [shape=y.shape, dtype="<i2"]
    """
    from ._kernels import pcm16_from_float

    samples = np.ascontiguousarray(y, dtype=np.float32).reshape(-1)
    out = np.empty(samples.shape[0], dtype=np.int16)
    pcm16_from_float(samples, out)
    return out.astype("<i2", copy=False).reshape(np.shape(y))
