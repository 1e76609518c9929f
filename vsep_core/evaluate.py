"""Score separations against the truth: the one evaluation path.

Everything that reports SI-SDR / SDR / SIR / SAR goes through :func:`score`:
``python -m vsep_core evaluate`` and ``batch`` (through :func:`evaluate_pair`,
which runs named methods on a pair), and the dashboard and ``run --metrics``
(through :func:`evaluate_experiment`, which scores the runs an experiment
already made, beside the reference methods). Both return the same report, so
``evaluate --json`` and the dashboard's table can be compared figure by figure.

The truth is always the pair at its true scale (level ``"as_is"``): the
references are the vocal and ``mixture − vocal``, and mixture = vocal +
instrumental holds exactly. The level setting (``independent``, ``common``,
``as_is``) is the engine's: what the seed method and the exact EQ saw. An
estimate made on the normalised pair is brought back with the one rule of
:func:`vsep_core.audio.to_true_scale` (undo the vocal's gain, the signal the
estimate was shaped toward); the instrumental estimate is then
``true mixture − vocal estimate``.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .alignment import MAX_LAG_S, apply_alignment, check_alignment
from .audio import Pair, engine_pair, prepare_pair, to_true_scale
from .baselines import Separation, progressive_name, resolve_methods, run_method
from .bss_split import headline as split_headline
from .bss_split import mark as split_mark
from .bss_split import report_notes as split_notes
from .errors import VsepError
from .field_metrics import FIELD_METRICS
from .limits import EVALUATE_WORKERS, MAX_EVALUATE_WORKERS
from .metrics import (
    BSS_FILTER_LENGTH,
    BSS_FILTERS,
    BSS_WINDOW_S,
    METRIC_NAMES,
    SOURCE_NAMES,
    evaluate_estimate,
    one_blas_thread,
    references_kept,
)
from .presenter import METRIC_LABELS, format_score, score_table, source_labels  # noqa: F401 - re-exported
from .progress import Progress, report
from .reconstruct import instrumental_from_vocal
from .settings import Settings
from .stems import labels, pair_target
from .text import terminal_text

#: Ceilings and floors measured beside an experiment's runs (names in :mod:`vsep_core.baselines`).
REFERENCE_METHODS = (
    "phase_oracle",
    "exact_eq",
    "irm",
    "ibm",
    "wiener",
    "repet_sim",
    "hpss",
    "learned_fingerprint",
    "mixture",
)


def reference_methods(target_name: str | None = None) -> tuple:
    """The ceilings and floors beside a run for this target: :data:`REFERENCE_METHODS`, plus, for any
    target but the vocal, the drums baseline ``hpss_percussive`` (flagged for stems it does not suit)."""
    from .stems import DEFAULT_TARGET
    from .stems import target_name as canonical

    if canonical(target_name) == DEFAULT_TARGET:
        return REFERENCE_METHODS
    return (*REFERENCE_METHODS[:-1], "hpss_percussive", REFERENCE_METHODS[-1])


#: Level of the truth pair: the files as they are.
TRUTH_LEVEL = "as_is"


# --- loading ----------------------------------------------------------------


def evaluation_settings(settings: Settings | None = None, **changes) -> Settings:
    """Settings of an evaluation (default: the first 4.7 s, engine level ``"as_is"``).

    Any level is allowed: the truth is always read at its true scale, and
    the level only decides what the seed method and the exact EQ see.
    """
    settings = settings or Settings(level=TRUTH_LEVEL)
    return settings.replace(**changes) if changes else settings


def load_pair(
    mixture, *, vocal=None, instrumental=None, settings: Settings | None = None, target_name: str | None = None
) -> Pair:
    """Decode and prepare the truth pair: the segment of ``settings`` at level ``"as_is"``.

    Parameters
    ----------
    mixture, vocal, instrumental : path, bytes, file object or Decoded
        The target as exactly one of ``vocal`` (the target stem's file) and
        ``instrumental`` (everything but the target).
    settings : Settings, optional
        Segment settings (default: the first 4.7 s); its level is ignored.
    target_name : str, optional
        Which stem the target is (default ``"vocals"``; see :mod:`vsep_core.stems`).

    Returns
    -------
    Pair
        ``info["target_mode"]`` says which target was given, ``info["files"]`` the paths.
    """
    settings = evaluation_settings(settings).replace(level=TRUTH_LEVEL)
    pair = prepare_pair(mixture, vocal=vocal, instrumental=instrumental, settings=settings, target_name=target_name)
    # Keep the file names for the report (prepare_pair names the signals by role, for its messages).
    files = {
        role: str(source)
        for role, source in (("mixture", mixture), ("vocal", vocal), ("instrumental", instrumental))
        if isinstance(source, (str, os.PathLike))
    }
    pair.info["files"] = files
    return pair


# --- the scoring loop -----------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One named estimate to score.

    Attributes
    ----------
    name, kind, description : str
        As the report lists it (kind: ``"seed"``, ``"oracle"`` or ``"blind"``).
    separate : callable(Pair) -> Separation
        Makes the estimate from the truth pair (after any alignment repair),
        on the pair's true scale.
    suited_targets : tuple of str or None
        The targets the method is built to estimate (``None``: any target).
        For another target it still runs, and the report flags its figures.
    unsuited_note : str
        Why its figures mean little for another target (shown with the flag).
    """

    name: str
    kind: str
    description: str
    separate: Callable[[Pair], Separation]
    suited_targets: tuple | None = None
    unsuited_note: str = ""


def method_candidate(method) -> Candidate:
    """A :mod:`vsep_core.baselines` method as a candidate (blind ones never see the vocal)."""

    def separate(truth: Pair) -> Separation:
        return run_method(method, truth.mixture, truth.sr, None if method.kind == "blind" else truth.vocal)

    return Candidate(
        method.name,
        method.kind,
        method.description,
        separate,
        getattr(method, "suited_targets", None),
        getattr(method, "unsuited_note", ""),
    )


# --- running candidates at once -------------------------------------------------------


#: Methods that run beside the others: long for the memory they hold (joint: the raw view and its EQ curves,
#: the longest method on a whole song). Every other method holds hundreds of MB on a whole song (STFTs,
#: masks, REPET-SIM's frame distances), so they run one at a time and two of them never add up
#: (BENCHMARKS.md: two at once took a 3-minute song's evaluation from 1.6 to 2.2-2.3 GB).
_RUN_BESIDE = ("joint",)
#: Started last: they keep the pair's fingerprints (every view) for one another
#: (:mod:`vsep_core.separators.caches`), which then need not sit beside the other methods' peaks.
_SHARE_FINGERPRINTS = ("seed_progressive", "seed_greedy", "seed_greedy_best")


def _start_order(candidates: list) -> list:
    """Indices of ``candidates`` in the order the pool starts them (see :data:`_RUN_BESIDE`)."""

    def rank(i: int) -> tuple:
        name = candidates[i].name
        group = 0 if name in _RUN_BESIDE else 2 if name.startswith(_SHARE_FINGERPRINTS) else 1
        return group, i

    return sorted(range(len(candidates)), key=rank)


def default_workers() -> int:
    """Candidates :func:`score` runs at once by default: :data:`vsep_core.limits.EVALUATE_WORKERS`, at most
    one per core."""
    return max(1, min(EVALUATE_WORKERS, os.cpu_count() or 1))


def check_workers(workers, *, name: str = "workers") -> int:
    """``workers`` as :func:`score` takes it (``None``: :func:`default_workers`); ``name`` is what the
    message calls it (the command line's ``--workers``).

    Raises
    ------
    VsepError
        For anything but a whole number from 1 to :data:`vsep_core.limits.MAX_EVALUATE_WORKERS`.
    """
    if workers is None:
        return default_workers()
    if (
        isinstance(workers, bool)
        or not isinstance(workers, (int, np.integer))
        or not (1 <= workers <= MAX_EVALUATE_WORKERS)
    ):
        raise VsepError(
            f"{name} (methods run at once) must be a whole number from 1 to {MAX_EVALUATE_WORKERS}, got {workers!r}."
        )
    return int(workers)


def _score_all(candidates: list, score_one: Callable, *, workers: int, progress: Progress) -> list:
    """``[score_one(c) for c in candidates]``, up to ``workers`` at a time: the methods of
    :data:`_RUN_BESIDE` first, beside the others, which run one at a time (memory).

    Worker threads run the candidates and post what starts and ends; this thread alone calls
    ``progress`` (a page's progress bar may only be moved from its own thread), with the fraction
    of candidates started, as one after another does. An exception other than a candidate's
    :class:`VsepError` (which ``score_one`` keeps in its entry) stops the others taking new work
    and is raised here once the running ones are done. The threads are daemons: an interrupted
    command does not wait for them.
    """
    n = len(candidates)
    if workers == 1 or n < 2:
        entries = []
        for i, candidate in enumerate(candidates):
            report(progress, (i + 0.5) / (n + 0.5), f"Running {candidate.name}")
            entries.append(score_one(candidate))
        return entries
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for i in _start_order(candidates):
        todo.put(i)
    events: queue.SimpleQueue = queue.SimpleQueue()
    one_at_a_time = threading.Lock()  # the methods not run beside the others
    state = threading.Lock()  # guards `stopped` and `active` together
    stopped, active = False, 0

    def work() -> None:
        nonlocal active
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            with contextlib.nullcontext() if candidates[i].name in _RUN_BESIDE else one_at_a_time:
                with state:
                    if stopped:
                        return
                    active += 1
                events.put(("start", i, None))
                try:
                    outcome = ("done", i, score_one(candidates[i]))
                except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
                    outcome = ("failed", i, exc)
                with state:
                    active -= 1  # before the news: the calling thread waits on one per active method
                events.put(outcome)

    for k in range(min(workers, n)):
        threading.Thread(target=work, name=f"vsep-evaluate-{k}", daemon=True).start()
    entries: list = [None] * n
    running: list = []
    started = finished = 0
    while finished < n:
        kind, i, value = events.get()
        if kind == "failed":
            with state:
                stopped = True
            # The methods already running finish (no thread is left working on after this call
            # returns); an interrupt (Ctrl-C) does not wait for them.
            while True:
                with state:
                    if active == 0:
                        break
                events.get()
            raise value
        if kind == "start":
            running.append(candidates[i].name)
            started += 1
        else:
            running.remove(candidates[i].name)
            entries[i] = value
            finished += 1
        if running:
            report(progress, (started - 0.5) / (n + 0.5), f"Running {', '.join(running)}")
    return entries


def score(
    truth: Pair,
    candidates,
    *,
    settings: Settings,
    window_s: float | None = BSS_WINDOW_S,
    align: bool = False,
    max_lag_s: float = MAX_LAG_S,
    progress: Progress = None,
    bss_filters: str = BSS_FILTERS,
    workers: int | None = None,
) -> dict:
    """Score named estimates against a truth pair: the one evaluation loop.

    Parameters
    ----------
    truth : Pair
        At its true scale (level ``"as_is"``); the references are
        ``truth.vocal`` and ``truth.mixture − truth.vocal``.
    candidates : sequence of Candidate
    settings : Settings
        Recorded in the report (the engine settings the estimates were made with).
    window_s : float or None
        BSS Eval frame length (1 s, as SiSEC; ``None``: whole signal).
    bss_filters : {"global", "framewise"}
        BSS Eval's distortion filters: solved once on the whole signal (the
        SiSEC 2018 setting, default) or on every frame.
    align : bool
        When the alignment check finds a misfit it can repair (a lag or an
        inverted polarity), apply its lag and gain before scoring — to the
        vocal, or to the instrumental when the pair was given as mixture −
        instrumental. An aligned or unrelated pair is left as it is.
    max_lag_s : float
        Largest lag the alignment check searches.
    progress : callable(fraction, label), optional
        Called on the calling thread only, with fractions that never go back.
    workers : int, optional
        Candidates run and scored at once, on threads (default :func:`default_workers`: 2, or 1 on one
        core): joint beside the others, which run one at a time (memory; :data:`_RUN_BESIDE`). ``1``
        runs them one after another in the given order. The report is the same whatever the number:
        every figure, in the candidates' order.

    Returns
    -------
    dict
        ``{"pair", "settings", "alignment", "alignment_applied", "bss_eval",
        "methods": [{"name", "kind", "description", "suited", "note", "vocal":
        {metric: dB}, "instrumental": {...}, "seconds", "info", "error"}],
        "seconds"}``. A candidate that rejects the pair (:class:`VsepError`)
        gets ``"error"`` and NaN metrics; the others still run; ``"seconds"``
        is each one's own wall time (running beside others). The
        ``"vocal"`` slot holds the target's figures and ``"instrumental"`` its
        complement's, whatever the target (``pair["target_name"]`` and
        ``pair["labels"]`` say what they are); ``"suited"`` is false, with a
        ``"note"`` saying why, for a blind method built for another target.

    Raises
    ------
    VsepError
        When the truth is not at its true scale, or its vocal or instrumental is silent, or for a bad
        ``workers``.
    """
    workers = check_workers(workers)
    started = time.perf_counter()
    if truth.info.get("level", TRUTH_LEVEL) != TRUTH_LEVEL:
        raise VsepError(
            f"The truth pair must be at level {TRUTH_LEVEL!r} (the files' true scale), "
            f"not {truth.info['level']!r}; load it with vsep_core.evaluate.load_pair."
        )
    target_mode = truth.info.get("target_mode", "vocal")
    names = labels(pair_target(truth.info))
    given = "instrumental" if target_mode == "mixture_minus_instrumental" else "vocal"
    given_label = names.complement if given == "instrumental" else names.target
    given_signal = truth.vocal if given == "vocal" else truth.mixture - truth.vocal
    report(progress, 0.0, f"Checking the alignment of the {given_label}")
    alignment = check_alignment(truth.mixture, given_signal, truth.sr, max_lag_s=max_lag_s, name=given_label)
    if align and alignment.fixable:
        fixed = apply_alignment(given_signal, alignment.lag_samples, alignment.gain)
        vocal = fixed if given == "vocal" else (truth.mixture - fixed).astype(np.float32)
        truth = Pair(mixture=truth.mixture, vocal=vocal, sr=truth.sr, info={**truth.info, "alignment_applied": True})

    vocal_ref = truth.vocal.astype(np.float64)
    instrumental_ref = truth.mixture.astype(np.float64) - vocal_ref
    if not np.any(instrumental_ref):
        raise VsepError(
            f"The {names.complement} (mixture − {names.target}) is silent: the {names.target} file "
            "is the mixture itself, so there is nothing to separate."
        )
    if not np.any(vocal_ref):
        raise VsepError(f"The {names.target} is silent in the evaluated segment; there is nothing to measure.")
    candidates = list(candidates)

    def score_one(candidate: Candidate) -> dict:
        entry = {"name": candidate.name, "kind": candidate.kind, "description": candidate.description}
        entry["suited"] = candidate.suited_targets is None or names.name in candidate.suited_targets
        entry["note"] = None if entry["suited"] else candidate.unsuited_note
        t0 = time.perf_counter()
        try:
            separation = candidate.separate(truth)
            entry.update(
                evaluate_estimate(
                    vocal_ref,
                    instrumental_ref,
                    separation.vocal,
                    separation.instrumental,
                    truth.sr,
                    window_s=window_s,
                    filters=bss_filters,
                )
            )
            entry["info"] = separation.info
            entry["error"] = None
        except VsepError as exc:
            entry.update(
                {source: dict.fromkeys((*METRIC_NAMES, *FIELD_METRICS), float("nan")) for source in SOURCE_NAMES}
            )
            entry["bss_split"] = dict.fromkeys(SOURCE_NAMES)
            entry["info"] = {}
            entry["error"] = str(exc)
        entry["seconds"] = time.perf_counter() - t0
        return entry

    # One BLAS thread for every method, however many run at once: BLAS's rounding depends on its thread
    # count (and two pools of BLAS threads would fight over two cores), so the figures do not.
    with references_kept(), one_blas_thread():  # the references serve this pair's methods, then are let go
        entries = _score_all(candidates, score_one, workers=workers, progress=progress)
    report(progress, 1.0, "Evaluation done")
    return {
        "pair": _pair_summary(truth, given, settings.level, names),
        "settings": settings.to_dict(),
        "alignment": alignment.to_dict(),
        "alignment_applied": bool(truth.info.get("alignment_applied", False)),
        "bss_eval": bss_eval_description(window_s, bss_filters),
        "methods": entries,
        "seconds": time.perf_counter() - started,
    }


# --- the two entry points ------------------------------------------------------------


def evaluate_pair(
    pair: Pair,
    methods,
    *,
    settings: Settings | None = None,
    window_s: float | None = BSS_WINDOW_S,
    align: bool = False,
    max_lag_s: float = MAX_LAG_S,
    progress: Progress = None,
    order=None,
    max_slices: int | None = None,
    joint=None,
    bss_filters: str = BSS_FILTERS,
    workers: int | None = None,
) -> dict:
    """Run methods on a truth pair and score them (what ``evaluate`` prints).

    Parameters
    ----------
    pair : Pair
        The truth at level ``"as_is"`` (see :func:`load_pair`).
    methods : sequence of str or Separator
        Method names (``"all"`` for every one) or built methods.
    settings : Settings, optional
        Engine settings of the methods built from names, level included
        (default :func:`evaluation_settings`); recorded in the report.
    window_s, align, max_lag_s, progress, bss_filters, workers
        See :func:`score`.
    order, max_slices : optional
        The seed methods' slice order and count, as ``run --order`` and
        ``--slices`` (see :func:`vsep_core.baselines.get_method`).
    joint : JointSettings, optional
        The ``joint`` method's optimiser settings.

    Returns
    -------
    dict
        See :func:`score`.
    """
    settings = evaluation_settings(settings)
    methods = [methods] if isinstance(methods, str) else list(methods)
    if all(isinstance(m, str) for m in methods):
        methods = resolve_methods(
            methods, settings, order=order, max_slices=max_slices, joint=joint, target_name=pair_target(pair.info)
        )
    return score(
        pair,
        [method_candidate(m) for m in methods],
        settings=settings,
        window_s=window_s,
        align=align,
        max_lag_s=max_lag_s,
        progress=progress,
        bss_filters=bss_filters,
        workers=workers,
    )


def estimate_candidate(
    name: str, kind: str, description: str, vocal_raw: np.ndarray, pair: Pair, info: dict | None = None
) -> Candidate:
    """A vocal estimate made on the engine pair ``pair``, as a candidate on the truth's scale.

    The vocal is brought back with :func:`vsep_core.audio.to_true_scale` (the
    one rule); the instrumental estimate is the truth's mixture minus it.
    """

    def separate(truth: Pair) -> Separation:
        vocal = to_true_scale(vocal_raw, pair)
        return Separation(vocal=vocal, instrumental=instrumental_from_vocal(truth.mixture, vocal), info=info or {})

    return Candidate(name, kind, description, separate)


def experiment_candidates(result, truth: Pair) -> list[Candidate]:
    """An experiment's runs as candidates, named as ``evaluate --methods`` names the same runs.

    The progressive run with the lowest loss and the largest N
    (``seed_progressive_N``, one entry when they are the same run), then,
    when the experiment ran the greedy search, ``seed_greedy`` (the full
    sequence) and ``seed_greedy_best`` (the best prefix). Each run's vocal is
    brought back to the truth's scale with :func:`vsep_core.audio.to_true_scale`
    on the engine pair the run saw (:func:`vsep_core.audio.engine_pair`).

    Raises
    ------
    VsepError
        When the truth does not fit the experiment (length, sample rate) or a
        run's audio was not kept.
    """
    settings = result.settings
    if truth.sr != settings.sr:
        raise VsepError(f"The truth pair is at {truth.sr} Hz but the experiment ran at {settings.sr} Hz.")
    n_run = result.pair_info.get("n_samples")
    if n_run is not None and n_run != truth.n_samples:
        raise VsepError(
            f"The truth pair has {truth.n_samples} samples but the experiment analysed {n_run}: "
            "load it with the experiment's segment settings."
        )
    pair = engine_pair(truth, settings.level)

    def candidate(name: str, description: str, run, info: dict) -> Candidate:
        if run.estimate is None:
            raise VsepError(f"The run {name} kept no audio; run the experiment with keep_audio=True to score it.")
        return estimate_candidate(name, "seed", description, run.estimate.vocal_raw, pair, info)

    out = []
    best, largest = result.best_progressive, result.progressive[-1]
    for run in [best] if largest is best else [best, largest]:
        out.append(
            candidate(
                progressive_name(run.n, result.order),
                f"Fingerprint EQ, progressive run over {run.n} slice(s) then the polish",
                run,
                {"slices": list(run.slices), "loss": run.final_loss},
            )
        )
    if result.greedy is not None:
        greedy = result.greedy
        extra = {"greedy_loss": greedy.loss, "best_prefix_loss": greedy.best_prefix_loss}
        out.append(
            candidate(
                "seed_greedy",
                "Fingerprint EQ, greedy slice order (full sequence, as the research code reports)",
                result.greedy_run,
                {"slices": list(result.greedy_run.slices), "loss": result.greedy_run.final_loss, **extra},
            )
        )
        out.append(
            candidate(
                "seed_greedy_best",
                "Fingerprint EQ, greedy slice order (best prefix over all steps)",
                result.best_prefix_run,
                {"slices": list(result.best_prefix_run.slices), "loss": result.best_prefix_run.final_loss, **extra},
            )
        )
    return out


def evaluate_experiment(
    result,
    truth: Pair,
    *,
    methods=None,
    window_s: float | None = BSS_WINDOW_S,
    align: bool = False,
    max_lag_s: float = MAX_LAG_S,
    progress: Progress = None,
    bss_filters: str = BSS_FILTERS,
    workers: int | None = None,
) -> dict:
    """Score an experiment's runs, and reference methods beside them, against the truth.

    The same report as :func:`evaluate_pair`: for the same pair and settings,
    ``evaluate --methods <the run names> <methods> [--order … --slices N]``
    gives the same figures.

    Parameters
    ----------
    result : ExperimentResult
        From :func:`vsep_core.experiment.run_experiment` (with its audio).
    truth : Pair
        The pair at level ``"as_is"`` with the experiment's segment settings
        (``load_pair(..., settings=result.settings)``).
    methods : sequence of str, optional
        Reference methods run beside the experiment's runs (default
        :func:`reference_methods` for the truth's target), with the
        experiment's settings.
    window_s, align, max_lag_s, progress, bss_filters, workers
        See :func:`score`.

    Returns
    -------
    dict
        See :func:`score`; the runs come first (see :func:`experiment_candidates`).
    """
    settings = result.settings
    methods = reference_methods(pair_target(truth.info)) if methods is None else methods
    references = (
        resolve_methods(list(methods), settings, order=result.order, max_slices=len(result.progressive))
        if methods
        else []
    )
    candidates = experiment_candidates(result, truth) + [method_candidate(m) for m in references]
    return score(
        truth,
        candidates,
        settings=settings,
        window_s=window_s,
        align=align,
        max_lag_s=max_lag_s,
        progress=progress,
        bss_filters=bss_filters,
        workers=workers,
    )


def experiment_si_sdr(result, truth: Pair) -> dict:
    """The vocal and instrumental SI-SDR of an experiment's runs only: the quick first look at the scores.

    The same runs, names and arithmetic as :func:`evaluate_experiment` (its
    ``si_sdr`` figures, exactly), without BSS Eval or the reference methods:
    milliseconds where the whole report takes seconds.

    Parameters
    ----------
    result : ExperimentResult
    truth : Pair
        As for :func:`evaluate_experiment`.

    Returns
    -------
    dict
        ``{"methods": [{"name", "kind", "description", "vocal": {"si_sdr"},
        "instrumental": {"si_sdr"}, "info", "error"}], "pair": {"labels"}}``, the runs in
        :func:`experiment_candidates`' order (``labels`` names the target and its complement).
    """
    from .metrics import si_sdr

    vocal_ref = truth.vocal.astype(np.float64)
    instrumental_ref = truth.mixture.astype(np.float64) - vocal_ref
    entries = []
    for candidate in experiment_candidates(result, truth):
        entry = {"name": candidate.name, "kind": candidate.kind, "description": candidate.description}
        try:
            separation = candidate.separate(truth)
            entry["vocal"] = {"si_sdr": si_sdr(vocal_ref, separation.vocal)}
            entry["instrumental"] = {"si_sdr": si_sdr(instrumental_ref, separation.instrumental)}
            entry["info"], entry["error"] = separation.info, None
        except VsepError as exc:
            entry.update({source: {"si_sdr": float("nan")} for source in SOURCE_NAMES})
            entry["info"], entry["error"] = {}, str(exc)
        entries.append(entry)
    names = labels(pair_target(truth.info))
    return {"methods": entries, "pair": {"labels": {"vocal": names.target, "instrumental": names.complement}}}


def evaluate_joint(
    found,
    analysis,
    truth: Pair,
    *,
    joint,
    methods=None,
    window_s: float | None = BSS_WINDOW_S,
    align: bool = False,
    max_lag_s: float = MAX_LAG_S,
    progress: Progress = None,
    vocal_raw: np.ndarray | None = None,
    bss_filters: str = BSS_FILTERS,
    workers: int | None = None,
) -> dict:
    """Score a finished joint matching, and reference methods beside it (as :func:`evaluate_experiment`).

    Parameters
    ----------
    found : JointResult
        From :func:`vsep_core.joint.run_joint` on ``analysis``.
    analysis : Analysis
        Of the engine pair (``engine_pair(truth, analysis.settings.level)``, or
        what :func:`vsep_core.audio.prepare_pair` gave at that level).
    truth : Pair
        The pair at its true scale with the same segment settings.
    joint : JointSettings
        The settings ``found`` was made with (named in the report).
    vocal_raw : np.ndarray, optional
        ``vocal_from_db(found.final_db, analysis)`` when the caller has made it already.
    methods, window_s, align, max_lag_s, progress, bss_filters, workers
        As for :func:`evaluate_experiment`.

    Returns
    -------
    dict
        See :func:`score`; the entry ``joint`` first, the same figures as
        ``evaluate --methods joint`` with the same settings.
    """
    from .baselines import JointMatching
    from .reconstruct import vocal_from_db

    settings = analysis.settings
    methods = reference_methods(pair_target(truth.info)) if methods is None else methods
    if truth.n_samples != analysis.n_samples or truth.sr != settings.sr:
        raise VsepError(
            "The truth pair does not fit the analysis (length or sample rate); load it with the same segment settings."
        )
    method = JointMatching(settings, joint)
    candidate = estimate_candidate(
        method.name,
        method.kind,
        method.description,
        vocal_from_db(found.final_db, analysis) if vocal_raw is None else vocal_raw,
        engine_pair(truth, settings.level),
        {
            "views": [list(v) for v in joint.views],
            "loss": found.final_loss,
            "steps": joint.steps,
            "step_size": joint.step_size,
            "clip_db": joint.clip_db,
        },
    )
    references = resolve_methods(list(methods), settings) if methods else []
    return score(
        truth,
        [candidate] + [method_candidate(m) for m in references],
        settings=settings,
        window_s=window_s,
        align=align,
        max_lag_s=max_lag_s,
        progress=progress,
        bss_filters=bss_filters,
        workers=workers,
    )


def bss_eval_description(window_s: float | None, bss_filters: str = BSS_FILTERS) -> dict:
    """How the SDR / SIR / SAR figures were computed, for the report."""
    fitted = (
        "time-invariant distortion filters (fitted on the whole signal, as SiSEC 2018)"
        if bss_filters == "global"
        else "distortion filters fitted on each frame (framewise)"
    )
    return {
        "implementation": f"vsep_core.bss: BSS Eval v4 (images) as museval 0.4.1 computes it, vectorised (equal "
        f"within 1e-5 dB), {BSS_FILTER_LENGTH}-tap {fitted}",
        "filters": bss_filters,
        "window_s": window_s,
        "aggregation": "median over frames" if window_s is not None else "whole signal",
        "si_sdr": "whole signal, no mean removed",
        "scale": "estimates scored at the files' true scale (level as_is); an estimate made on a normalised "
        "pair is divided by the vocal's gain",
    }


def _pair_summary(pair: Pair, given: str, level: str, names) -> dict:
    info = pair.info
    files = info.get("files", {})
    return {
        "mixture": files.get("mixture", info.get("mixture", "mixture")),
        given: files.get(given, info.get(given, given)),
        "target": given,
        "target_name": names.name,
        "labels": {"vocal": names.target, "instrumental": names.complement},
        "sr": pair.sr,
        "n_samples": pair.n_samples,
        "duration_s": pair.duration_s,
        "level": level,
        **({"streams": info["streams"]} if info.get("streams") else {}),
    }


def format_db(value, width: int = 7) -> str:
    """A figure in dB for tables (:func:`vsep_core.presenter.format_score`), right-aligned; ``n/a`` for missing."""
    return format_score(math.nan if value is None else value).rjust(width)


def _split_mark(cell: str, method: dict, source: str, metric: str) -> str:
    """A SIR or SAR cell whose split failed its check ends in ``?`` (same width)."""
    return split_mark(cell.strip(), method, source, metric).rjust(len(cell))


def _field_lines(result: dict, name_w: int, slot_labels: dict) -> list[str]:
    """The metrics the field reads now (:mod:`vsep_core.field_metrics`), one row per method, below the table."""
    methods = [m for m in result["methods"] if "usdr" in m["vocal"]]
    if not methods:
        return []
    heads = "".join(FIELD_METRICS[k].rjust(10) for k in FIELD_METRICS)
    lines = [
        "",
        "Also read now: uSDR = whole-signal SDR (MDX challenges, MVSep leaderboard; dB); bleedless and "
        "fullness (Music-Source-Separation-Training; 0-100, higher is better)",
        f"{'':{name_w}} |{slot_labels['vocal'].center(len(heads))} |{slot_labels['instrumental'].center(len(heads))}",
        f"{'method':{name_w}} |{heads} |{heads}",
    ]
    for m in methods:
        cells = [" ".join(format_db(m[source].get(k), 9) for k in FIELD_METRICS) for source in SOURCE_NAMES]
        lines.append(f"{m['name']:{name_w}} | {cells[0]} | {cells[1]}")
    return lines


def format_table(result: dict) -> str:
    """The report as text: a header, the alignment verdict, then method × metric (:func:`score_table`'s rows).

    Parameters
    ----------
    result : dict
        What :func:`evaluate_pair` or :func:`evaluate_experiment` returned.
    """
    pair, bss = result["pair"], result["bss_eval"]
    table = score_table(result)
    given = pair["target"]
    given_label = table.target if given == "vocal" else table.complement
    lines = [
        f"Pair: mixture {pair['mixture']} + {given_label} {pair[given]}, {pair['duration_s']:.2f} s at "
        f"{pair['sr']} Hz "
        f"(engine level {pair['level']}; scored at the files' true scale)"
        + "".join(f"; {role}: {label}" for role, label in pair.get("streams", {}).items()),
        f"Alignment: {result['alignment']['verdict']}"
        + (" [lag and gain applied]" if result.get("alignment_applied") else ""),
        f"BSS Eval: {bss['implementation']}; "
        + (f"{bss['window_s']:g} s frames, median over frames" if bss["window_s"] else "whole signal"),
        "All figures in dB; higher is better. " + split_headline(result["methods"]),
        "",
    ]
    name_w = max(18, *(len(row.name) for row in table.rows))
    groups = [table.columns_of("target"), table.columns_of("complement")]
    heads = ["".join(c.metric_label.rjust(8) for c in columns) for columns in groups]
    lines.append(
        f"{'':{name_w}} {'':6} |{table.target.center(len(heads[0]))} |{table.complement.center(len(heads[1]))} |"
    )
    lines.append(f"{'method':{name_w}} {'kind':6} |{heads[0]} |{heads[1]} | {'time':>6}")
    lines.append("-" * len(lines[-1]))
    for m, row in zip(result["methods"], table.rows):
        texts = [_split_mark(format_score(v).rjust(7), m, c.slot, c.metric) for c, v in zip(table.columns, row.values)]
        n = len(groups[0])
        cells = " |".join("".join(" " + t for t in part) for part in (texts[:n], texts[n:]))
        seconds = row.seconds if row.seconds is not None else math.nan
        lines.append(f"{row.name:{name_w}} {row.marked_kind:6} |{cells} | {seconds:5.2f}s")
        if row.error:
            lines.append(f"{'':{name_w}}   failed: {row.error}")
    slot_labels = {"vocal": table.target, "instrumental": table.complement}
    lines += _field_lines(result, name_w, slot_labels)
    untrusted = split_notes(result["methods"], slot_labels)
    if untrusted:
        lines += ["", "? = SIR/SAR split failed its stability check (vsep_core.bss_split):"] + [
            f"? {line}" for line in untrusted
        ]
    if table.unsuited:
        lines += [
            "",
            f"Target: {table.target}. Marked * = not built to estimate this target; its figures "
            "are shown for completeness, not as a fair blind baseline:",
        ]
        lines += [f"* {row.name}: {row.note}" for row in table.unsuited]
    return terminal_text("\n".join(lines))  # file names may hold escape sequences or bidi controls


#: What two reports must share for their scores to stand in one table: the pair as scored and how.
_SAME_PAIR = ("target_name", "labels", "sr", "n_samples", "level")


def with_methods(report: dict, other: dict, names=("joint",)) -> dict:
    """``report`` with ``other``'s entries named in ``names`` added after its runs (a method scored apart, on
    the same pair with the same settings, as the dashboard's joint matching is).

    The figures are ``other``'s as they are: :func:`score` on the same truth with the same BSS Eval settings
    gives the same numbers as one report of every method would (``evaluate --methods … joint``).

    Parameters
    ----------
    report : dict
        :func:`evaluate_experiment`'s report, or :func:`experiment_si_sdr`'s (the runs' SI-SDR only).
    other : dict
        :func:`evaluate_joint`'s (or any :func:`score`) report.
    names : sequence of str
        Which of ``other``'s methods to add; one ``report`` has already is left as it is.

    Returns
    -------
    dict
        A new report (``report`` is not changed); ``"methods"`` holds the added entries right after the
        experiment's runs (``seed_*``), before the reference methods.

    Raises
    ------
    VsepError
        When the two were scored on different pairs or with different settings or BSS Eval settings.
    """
    mine, theirs = report.get("pair") or {}, other.get("pair") or {}
    for key in _SAME_PAIR:
        if key in mine and key in theirs and mine[key] != theirs[key]:
            raise VsepError(
                f"These scores were measured on another pair ({key}: {theirs[key]!r}, not "
                f"{mine[key]!r}); they cannot share a table."
            )
    for key in ("settings", "bss_eval"):
        if key in report and key in other and report[key] != other[key]:
            raise VsepError(
                f"These scores were measured with other {key.replace('_', ' ')}; they cannot share a table."
            )
    have = {m["name"] for m in report["methods"]}
    added = [m for m in other["methods"] if m["name"] in names and m["name"] not in have]
    methods = list(report["methods"])
    at = max((i + 1 for i, m in enumerate(methods) if m["name"].startswith("seed_")), default=0)
    return {**report, "methods": methods[:at] + added + methods[at:]}
