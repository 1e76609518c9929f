"""Analyse a prepared pair: the mixture's spectrogram and every view's targets.

This is everything the optimiser reads, computed once per (pair, settings):
the mixture's magnitude in dB (the first pass's working matrix), its phase
(for reconstruction), and the fingerprint targets of the vocal's 19 views.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .audio import Pair
from .errors import VsepError
from .fingerprint import amplitude_to_db, target_profiles_db
from .progress import Progress, report
from .settings import Settings
from .views import VIEW_NAMES, VIEWS_BY_NAME, compute_view, magphase, stft


@dataclass(frozen=True)
class Analysis:
    """The optimiser's inputs for one pair and one set of settings.

    Attributes
    ----------
    settings : Settings
    hop_length : int
        The hop actually used (``settings.hop_for(n_samples)``).
    n_samples : int
        Length of the analysed signals.
    mixture_db : np.ndarray [shape=(bins, windows), dtype=float32]
        The mixture's magnitude in dB with one 80 dB floor (the first pass's ``Wdb``).
    phase : np.ndarray [shape=(bins, windows), dtype=complex64]
        The mixture's unit phasor.
    targets : dict of str → np.ndarray [shape=(n_points, windows_s), dtype=float64]
        Each view's fingerprint targets, a column per window. With
        ``pooled_windows="expand"`` the pooled views' columns are repeated so
        that they cover every window.
    target_windows : dict of str → int
        Each view's window count ``T_s`` (the loss divides by it).
    """

    settings: Settings
    hop_length: int
    n_samples: int
    mixture_db: np.ndarray
    phase: np.ndarray
    targets: dict
    target_windows: dict

    @property
    def n_windows(self) -> int:
        return self.mixture_db.shape[1]

    @property
    def n_bins(self) -> int:
        return self.mixture_db.shape[0]


def analyse(
    pair: Pair, settings: Settings, *, views=VIEW_NAMES, progress: Progress = None, workers: int = 1
) -> Analysis:
    """STFT the pair and compute the fingerprint targets of ``views``.

    Parameters
    ----------
    pair : Pair
        A prepared pair (see :func:`vsep_core.audio.prepare_pair`).
    settings : Settings
    views : sequence of str
        Views to fingerprint; the raw view is always included (the polish).
    progress : callable(fraction, label), optional
    workers : int
        Threads for the vocal's STFT and the views (default 1). The result
        does not depend on it. Two gave no speed-up on the shared 2-core
        machine (load 3-13) and cost ~60 MB on a 3-minute song (BENCHMARKS.md, issue #19).

    Returns
    -------
    Analysis

    Raises
    ------
    VsepError
        When the signals have different lengths or the window count setting
        does not fit the signal.
    """
    if len(pair.mixture) != len(pair.vocal):
        raise VsepError(
            f"The mixture has {len(pair.mixture)} samples and the vocal {len(pair.vocal)}; prepare the "
            "pair with prepare_pair so that they match."
        )
    names = list(dict.fromkeys(["slice_0_raw", *views]))
    for name in names:
        if name not in VIEWS_BY_NAME:
            raise VsepError(f"Unknown view {name!r}.")
    hop = settings.hop_for(len(pair.mixture))
    # The STFTs, filters, interpolation and numpy's big ufuncs release the GIL: the vocal's STFT runs beside the
    # mixture's, then each view on its own; submitted at once, collected in order, so progress comes from this
    # thread and the result is the same.
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        report(progress, 0.0, "STFT of the mixture and the vocal")

        def vocal_magnitude() -> np.ndarray:  # magphase's magnitude; no phase needed
            return np.ascontiguousarray(np.abs(stft(pair.vocal, settings, hop_length=hop)))

        voc_later = pool.submit(vocal_magnitude) if pool is not None else None
        mix_mag, phase = magphase(stft(pair.mixture, settings, hop_length=hop))
        # The STFT is frames-first in memory (Fortran order, as librosa's); every later step reads whole
        # rows (bins), so go C order once.
        mix_mag = np.ascontiguousarray(mix_mag)
        mixture_db = amplitude_to_db(mix_mag, top_db=settings.top_db)
        del mix_mag
        voc_mag = vocal_magnitude() if voc_later is None else voc_later.result()
        n_windows = mixture_db.shape[1]

        def fingerprint(name: str) -> np.ndarray:
            t = target_profiles_db(compute_view(voc_mag, name), settings)
            if VIEWS_BY_NAME[name].is_pooled and settings.pooled_windows == "expand":
                t = np.ascontiguousarray(np.repeat(t, 2, axis=1)[:, :n_windows])
            t.setflags(write=False)
            return t

        targets, target_windows = {}, {}
        pending = [pool.submit(fingerprint, name) if pool is not None else None for name in names]
        for i, (name, future) in enumerate(zip(names, pending)):
            report(progress, (i + 1) / (len(names) + 1), f"Fingerprinting {name}")
            t = fingerprint(name) if future is None else future.result()
            target_windows[name] = t.shape[1]
            targets[name] = t
    finally:  # after an error or a cancelled progress: drop what has not started
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    report(progress, 1.0, "Fingerprints ready")
    mixture_db.setflags(write=False)
    phase.setflags(write=False)  # every array read-only: the dashboard shares one analysis between sessions
    return Analysis(
        settings=settings,
        hop_length=hop,
        n_samples=len(pair.mixture),
        mixture_db=mixture_db,
        phase=phase,
        targets=targets,
        target_windows=target_windows,
    )
