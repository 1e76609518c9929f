"""How good a separation is: SI-SDR and BSS Eval's SDR / SIR / SAR.

Every metric compares an estimate with the truth sample by sample, so both
must be on the same scale: the references are the pair's vocal and
``mixture − vocal`` as loaded (level ``"as_is"`` or ``"common"``), and the
estimates are the methods' un-normalised outputs (``Estimate.vocal_raw``,
never the peak-normalised copy that is saved as WAV). Estimates are
zero-padded or trimmed to the reference's length first (the seed method's
inverse STFT is 675 samples short of a 4.7 s mixture).

BSS Eval: v4 "images" as ``museval`` (the SiSEC 2018 / MUSDB18 reference)
computes it, re-implemented in :mod:`vsep_core.bss` with whole-signal
products and batched frames (much faster than museval: BENCHMARKS.md), and
agrees with museval within 1e-5 dB: ``tests/test_bss.py`` checks it against
museval itself, which stays the reference and is needed only for that
comparison (the ``dev`` extra). As ``museval.evaluate`` does for SiSEC: time-invariant 512-tap
distortion filters estimated on the whole signal, metrics on 1 s frames
without overlap, aggregated by the median over frames (frames where a signal
is silent are NaN and left out). ``window_s=None`` gives one whole-signal
figure instead.

Because it is the "images" variant, SDR is the plain signal-to-error ratio
of the estimate: a wrong overall gain lowers it. SI-SDR (Le Roux et al.,
"SDR — half-baked or well done?", 2019) is the scale-invariant
counterpart: the estimate is first projected onto the reference.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np

from .audio import check_signal
from .errors import VsepError
from .limits import BSS_WINDOW_S

#: The metrics reported for each source, in table order.
METRIC_NAMES = ("si_sdr", "sdr", "sir", "sar")

#: The two sources of a pair, in table order.
SOURCE_NAMES = ("vocal", "instrumental")


#: Distortion filter length of BSS Eval v4 (museval's default, as in SiSEC).
BSS_FILTER_LENGTH = 512

#: How the distortion filters are fitted: once on the whole signal (SiSEC 2018) or per frame.
BSS_FILTER_MODES = ("global", "framewise")
BSS_FILTERS = "global"


def fit_length(estimate: np.ndarray, n_samples: int) -> np.ndarray:
    """Zero-pad or trim an estimate to ``n_samples`` samples.

    Parameters
    ----------
    estimate : np.ndarray [shape=(n,)]
    n_samples : int

    Returns
    -------
    np.ndarray [shape=(n_samples,), dtype=float64]
    """
    estimate = _as_signal(estimate, "estimate")
    fitted = np.zeros(int(n_samples), dtype=np.float64)
    n = min(len(estimate), int(n_samples))
    fitted[:n] = estimate[:n]
    return fitted


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio, in dB.

    With ``a = <ŝ, s> / <s, s>``, SI-SDR = 10·log10(‖a·s‖² / ‖ŝ − a·s‖²).
    No mean is removed. The estimate is fitted to the reference's length.

    Parameters
    ----------
    reference : np.ndarray [shape=(n,)]
    estimate : np.ndarray [shape=(m,)]

    Returns
    -------
    float
        ``inf`` when the estimate has no residual at all (a very large figure
        when rounding leaves one); ``nan`` for an all-zero estimate (the
        ratio is undefined).

    Raises
    ------
    VsepError
        When the reference is silent or either signal is not finite.
    """
    s = _as_signal(reference, "reference")
    _check_not_silent(s, "reference")
    s_hat = fit_length(estimate, len(s))
    if not np.any(s_hat):
        return float("nan")
    scale = _dot(s_hat, s) / _dot(s, s)
    target = scale * s
    residual = s_hat - target
    target_energy, residual_energy = _dot(target, target), _dot(residual, residual)
    if residual_energy == 0.0:
        return float("inf")
    if target_energy == 0.0:
        return float("-inf")
    return 10.0 * float(np.log10(target_energy / residual_energy))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a · b`` summed by numpy's own loop, not BLAS: BLAS rounds differently with its thread count, which
    the process shares (methods run at once hold it to one), so a figure would depend on what else runs."""
    return float(np.einsum("i,i->", a, b))


def bss_eval(
    references: np.ndarray,
    estimates: np.ndarray,
    sr: int,
    *,
    window_s: float | None = BSS_WINDOW_S,
    filters: str = BSS_FILTERS,
) -> dict:
    """SDR, ISR, SIR and SAR of every source (BSS Eval v4 images, as museval; :mod:`vsep_core.bss`).

    Parameters
    ----------
    references : np.ndarray [shape=(n_sources, n)]
        The true sources; they must sum to the mixture for SIR to mean
        anything.
    estimates : np.ndarray [shape=(n_sources, m)]
        Estimates in the same order, fitted to length ``n`` here.
    sr : int
        Sample rate (sets the frame length).
    window_s : float or None
        Frame length in seconds (1 s, as SiSEC); ``None`` evaluates the
        whole signal as one frame.
    filters : {"global", "framewise"}
        Distortion filters solved once on the whole signal (SiSEC 2018, the
        default) or on every frame (see :func:`vsep_core.bss.bss_eval_images`).

    Returns
    -------
    dict of str → np.ndarray [shape=(n_sources,)]
        ``"sdr"``, ``"isr"``, ``"sir"``, ``"sar"`` in dB: the median over
        frames, NaN frames (silent reference or estimate) left out. A source
        whose estimate is all zeros gets NaN throughout. ``"split"``: a list
        with each source's stability check of its SIR/SAR split
        (:func:`vsep_core.bss_split.check_split`; ``None`` for a silent
        estimate).

    Raises
    ------
    VsepError
        When a reference is silent or shapes disagree.
    """
    references = np.asarray(references, dtype=np.float64)
    if references.ndim != 2 or np.asarray(estimates).ndim != 2 or len(references) != len(estimates):
        raise VsepError(
            "bss_eval needs references and estimates as (sources, samples) arrays with the same number of sources."
        )
    if window_s is not None and not (np.isfinite(window_s) and window_s > 0):
        raise VsepError(f"The BSS Eval window must be a positive number of seconds, got {window_s!r}.")
    n = references.shape[1]
    for i, ref in enumerate(references):
        _check_not_silent(_as_signal(ref, f"reference {i}"), f"reference {i}")
    fitted = np.stack([fit_length(e, n) for e in estimates])
    from .bss import bss_eval_images  # (imported here: this block is the only user)

    if filters not in BSS_FILTER_MODES:
        raise VsepError(f"BSS Eval filters must be one of {', '.join(BSS_FILTER_MODES)}, got {filters!r}.")
    out = {key: np.full(len(references), np.nan) for key in ("sdr", "isr", "sir", "sar")}
    out["split"] = [None] * len(references)
    # An all-zero estimate has no BSS Eval figures (its projection is underdetermined);
    # such a source keeps NaN and the others are evaluated as usual.
    audible = np.flatnonzero(np.any(fitted != 0.0, axis=1))
    if len(audible) == 0:
        return out
    window = n if window_s is None else max(1, int(round(window_s * sr)))
    runnable = fitted if len(audible) == len(fitted) else _fill_silent(fitted, audible)
    with one_blas_thread():
        # museval's bss_eval(..., window=window, hop=window, filters_len=512, framewise_filters=False,
        # bsseval_sources_version=False), vectorised (vsep_core.bss; tests compare the two).
        sdr, isr, sir, sar = bss_eval_images(
            references, runnable, window=window, filters_len=BSS_FILTER_LENGTH, filters=filters
        )
        short_sir, short_sar = _length_check(references, runnable, window, filters, sir)
    from .bss_split import check_split

    for j in audible:
        out["split"][j] = check_split(sdr[j], sir[j], sar[j], short_sir=short_sir[j], short_sar=short_sar[j])
    for key, values in zip(("sdr", "isr", "sir", "sar"), (sdr, isr, sir, sar)):
        medians = _row_medians(np.asarray(values, dtype=np.float64))
        out[key][audible] = medians[audible]
    return out


def _row_medians(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=1)``, NaN for an all-NaN row without numpy's warning about it.

    (Not by silencing the warning: ``warnings.catch_warnings`` changes the process's filters, and
    scorings run on several threads at once.)
    """
    medians = np.full(len(values), np.nan)
    some = ~np.all(np.isnan(values), axis=1)
    if np.any(some):
        medians[some] = np.nanmedian(values[some], axis=1)
    return medians


def _length_check(references, estimates, window, filters, sir):
    """SIR and SAR of the leading frames with the global filters fitted on those frames' span only.

    For :func:`vsep_core.bss_split.check_split`'s length check; ``(None, None)`` when it does
    not apply (framewise filters, or one frame). Not cached: the whole signal's correlations
    stay the kept set (both would hold ~200 MB more on a 3-minute song, to save ~0.5 s of CPU a method).
    """
    from .bss import bss_eval_images
    from .bss_split import kept_frames

    k = kept_frames(sir.shape[1])
    if filters == "framewise" or k == 0:
        return [None] * len(sir), [None] * len(sir)
    span = k * window
    _, _, short_sir, short_sar = bss_eval_images(
        references[:, :span], estimates[:, :span], window=window, filters_len=BSS_FILTER_LENGTH, cache=False
    )
    return short_sir, short_sar


def evaluate_estimate(
    vocal_ref: np.ndarray,
    instrumental_ref: np.ndarray,
    vocal_est: np.ndarray,
    instrumental_est: np.ndarray,
    sr: int,
    *,
    window_s: float | None = BSS_WINDOW_S,
    filters: str = BSS_FILTERS,
) -> dict:
    """Every metric of a (vocal, instrumental) estimate against the truth.

    Parameters
    ----------
    vocal_ref, instrumental_ref : np.ndarray [shape=(n,)]
        The true sources on the mixture's scale (``instrumental_ref`` is
        ``mixture − vocal``).
    vocal_est, instrumental_est : np.ndarray [shape=(m,)]
        Un-normalised estimates; fitted to ``n`` samples.
    sr : int
    window_s : float or None
        BSS Eval frame length (see :func:`bss_eval`).
    filters : {"global", "framewise"}
        BSS Eval's distortion filters (see :func:`bss_eval`).

    Returns
    -------
    dict
        ``{"vocal": {"si_sdr", "sdr", "sir", "sar", "usdr", "bleedless",
        "fullness"}, "instrumental": {...}, "bss_split": {"vocal": check,
        "instrumental": check}}``, figures in dB (bleedless and fullness 0–100,
        :mod:`vsep_core.field_metrics`)
        (NaN where undefined, ``inf`` for a perfect SI-SDR); each check says
        whether that source's SIR/SAR split can be trusted
        (:func:`vsep_core.bss_split.check_split`).

    Raises
    ------
    VsepError
        When the references have different lengths, are silent or not finite.
    """
    refs = [_as_signal(vocal_ref, "vocal reference"), _as_signal(instrumental_ref, "instrumental reference")]
    if len(refs[0]) != len(refs[1]):
        raise VsepError(
            f"The vocal reference has {len(refs[0])} samples and the instrumental reference "
            f"{len(refs[1])}; they must match."
        )
    for ref, name in zip(refs, ("vocal reference", "instrumental reference")):
        _check_not_silent(ref, name)
    from .field_metrics import field_metrics

    n = len(refs[0])
    ests = [fit_length(vocal_est, n), fit_length(instrumental_est, n)]
    bss = bss_eval(np.stack(refs), np.stack(ests), sr, window_s=window_s, filters=filters)
    result = {}
    for i, source in enumerate(SOURCE_NAMES):
        result[source] = {
            "si_sdr": si_sdr(refs[i], ests[i]),
            "sdr": float(bss["sdr"][i]),
            "sir": float(bss["sir"][i]),
            "sar": float(bss["sar"][i]),
            **field_metrics(refs[i], ests[i], sr),  # uSDR, bleedless, fullness (vsep_core.field_metrics)
        }
    result["bss_split"] = dict(zip(SOURCE_NAMES, bss["split"]))
    return result


def release_reference_caches() -> None:
    """Forget what scoring keeps of the last references (BSS Eval's correlations, the mel dB of bleedless
    and fullness): about 230 MB for a whole song's pair, which a server would otherwise hold for the next
    visitor. Scoring loops do this through :func:`references_kept`."""
    from .bss import release_references
    from .field_metrics import release_reference_db

    release_references()
    release_reference_db()


_KEPT = threading.local()


@contextlib.contextmanager
def references_kept():
    """Keep the references between the estimates scored inside; let them go when the outermost one ends.

    Kept, they spare every further estimate scored against the same pair their cost. A scoring loop
    (:func:`vsep_core.evaluate.score`, the full-quality scoring) runs inside one; a loop over several such
    scorings (the CLI's full-quality runs) wraps them in another, so that they share the references and
    they are let go once, at its end. The depth is this thread's.
    """
    depth = getattr(_KEPT, "depth", 0)
    _KEPT.depth = depth + 1
    try:
        yield
    finally:
        _KEPT.depth = depth
        if depth == 0:
            release_reference_caches()


# --- helpers ----------------------------------------------------------------


def _as_signal(x, name: str) -> np.ndarray:
    return check_signal(x, name, dtype=np.float64)


def _check_not_silent(x: np.ndarray, name: str) -> None:
    check_signal(
        x,
        name,
        dtype=np.float64,
        refuse_silent=True,
        silence_peak=0.0,
        silent_hint="Separation metrics are undefined against it. Check that the vocal is not the "
        "whole mixture or empty.",
    )


def _nudge_zero_sums(x: np.ndarray) -> np.ndarray:
    # museval treats a signal whose samples *sum* to exactly zero as silent; a
    # real signal can do that by chance, so add one LSB-sized offset there.
    x = x.copy()
    for row in x:
        if np.sum(row) == 0.0 and np.any(row):
            row[0] += 1e-12
    return x


def _fill_silent(fitted: np.ndarray, audible: np.ndarray) -> np.ndarray:
    # A silent estimate is replaced by faint noise so museval runs at all; its
    # figures are discarded (the caller keeps NaN for it). Each estimate is
    # decomposed against the references only, so the others' figures do not change.
    x = _nudge_zero_sums(fitted)
    silent = np.setdiff1d(np.arange(len(x)), audible)
    x[silent] = 1e-9 * np.random.default_rng(0).standard_normal((len(silent), x.shape[1]))
    return x


def one_blas_thread():
    """Hold BLAS to one thread (a context manager), as around BSS Eval's small (1024 × 1024) solves.

    Threads fighting other jobs for the cores cost more than these small solves
    gain (BENCHMARKS.md). threadpoolctl comes with scikit-learn (a librosa
    dependency); without it this does nothing. OpenBLAS's thread count is the
    process's, and threadpoolctl lets one thread at a time change it: a call
    from another thread meanwhile changes nothing. :func:`vsep_core.evaluate.score`
    holds it around all the methods it runs, so each BLAS call rounds the same
    way whether they run one after another or at once.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


_MUSEVAL_METRICS = None


def _museval_metrics():
    """museval's ``metrics`` module, without running the package's ``__init__`` (the reference that
    ``tests/test_metrics.py`` and ``benchmarks/bench_evaluate.py`` compare with; the product never calls it).

    ``import museval`` also imports musdb, stempeg and pandas for dataset
    I/O; stempeg refuses to import without ffmpeg on PATH, and the chain
    is slow to import. ``museval/metrics.py``
    itself needs only numpy and scipy, so it is loaded straight from the
    installed package; the plain import is the fallback.
    """
    global _MUSEVAL_METRICS
    if _MUSEVAL_METRICS is not None:
        return _MUSEVAL_METRICS
    import importlib.util
    import sys

    module = sys.modules.get("museval.metrics")
    if module is None:
        try:
            spec = importlib.util.find_spec("museval")  # locates the package without importing it
            path = Path(spec.origin).parent / "metrics.py" if spec and spec.origin else None
            if path is not None and path.exists():
                file_spec = importlib.util.spec_from_file_location("vsep_core._museval_metrics", path)
                module = importlib.util.module_from_spec(file_spec)
                file_spec.loader.exec_module(module)
        except Exception:  # noqa: BLE001 - any surprise in the package layout: use the ordinary import below
            module = None
    if module is None or not hasattr(module, "bss_eval"):
        try:
            import museval.metrics as module
        except Exception as exc:  # e.g. musdb → stempeg refusing to import without ffmpeg
            raise VsepError(
                "BSS Eval needs the museval package (pip install museval); importing it failed: "
                f"{exc}. museval imports stempeg, which needs ffmpeg and ffprobe on PATH "
                "(Debian: apt-get install ffmpeg)."
            ) from exc
    _MUSEVAL_METRICS = module
    return module
