"""One engine call per workflow: what the CLI, the dashboard, a Dask task and batch all call.

Each function takes a prepared pair (or the truth pair), settings and a
progress callback ``progress(fraction, label)``, and returns a result object;
none writes a file or draws anything. The command line (:mod:`vsep_core.cli`),
the dashboard's cache (``vsep_app.cache``), the Dask tasks
(:mod:`vsep_core.cluster`) and batch (:mod:`vsep_core.batch`) call exactly
these, so no workflow is assembled twice (``tests/test_one_api.py`` checks the
import graph). As demucs's ``api.Separator``: one public face per workflow.

==========================  ===========================================================
:func:`seed_experiment`     progressive runs N = 1 … max, and (optionally) the greedy search
:func:`seed_greedy`         the greedy search alone (the dashboard runs it apart)
:func:`eq_curves`           one run's learned EQ curves, pass by pass (the dashboard draws them)
:func:`joint_matching`      the joint method, its audio and (with a truth) its scores
:func:`attribution`         which slices help, for the seed chain or the joint loss
:func:`score_methods`       named methods run and scored on a truth pair (``evaluate``)
:func:`score_experiment`    an experiment's runs scored beside the reference methods
:func:`quick_scores`        the runs' SI-SDR only (the dashboard's first look)
:func:`batch_song`          one song of a batch, one stem as the target; never raises
:func:`full_quality`        a result's EQ on the original mixture at its own rate and channels, scored
:func:`full_quality_runs`   the same for several seed runs, the files decoded once (the CLI's ``--full-quality``)
==========================  ===========================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import VsepError
from .limits import BSS_WINDOW_S, MAX_LAG_S
from .progress import Progress, report, scaled

# The engine's heavy modules (the optimiser's compiled loops, the views' scipy.ndimage) are imported by the
# functions that use them: the dashboard imports this module on its first page.
if TYPE_CHECKING:
    from .audio import Pair
    from .experiment import ExperimentResult, RunSummary
    from .settings import Settings

__all__ = [
    "GreedyOutcome",
    "JointOutcome",
    "seed_experiment",
    "seed_greedy",
    "eq_curves",
    "with_greedy",
    "belongs_together",
    "joint_matching",
    "attribution",
    "score_methods",
    "score_experiment",
    "quick_scores",
    "batch_song",
    "training_features",
    "FullQualityOutcome",
    "full_quality",
    "full_quality_runs",
    "seed_eq",
]


# --- the seed method ------------------------------------------------------------------------


def seed_experiment(
    pair: Pair,
    settings: Settings,
    *,
    order=None,
    max_slices: int | None = None,
    greedy: bool = True,
    keep_audio: bool = True,
    on_run=None,
    audio_runs=None,
    analysis=None,
    progress: Progress = None,
    background_audio: bool = False,
) -> ExperimentResult:
    """The research script's workload: progressive runs N = 1 … ``max_slices`` and the greedy search.

    Parameters and result as :func:`vsep_core.experiment.run_experiment` (``analysis``: a ready
    fingerprinting of ``pair`` with the raw view and ``order[:max_slices]``, e.g. from a cache).
    """
    from .experiment import run_experiment

    return run_experiment(
        pair,
        settings,
        order=order,
        max_slices=max_slices,
        greedy=greedy,
        keep_audio=keep_audio,
        on_run=on_run,
        audio_runs=audio_runs,
        analysis=analysis,
        progress=progress,
        background_audio=background_audio,
    )


@dataclass
class GreedyOutcome:
    """The greedy search and its full sequence and best prefix run again with their audio.

    Attributes
    ----------
    greedy : GreedyResult
    greedy_run, best_prefix_run : RunSummary
        The same object when the best prefix is the whole sequence.
    timings_s : dict
        ``"analyse"`` (0 when the analysis was given), ``"greedy"``, ``"reconstruct"``.
    """

    greedy: object
    greedy_run: RunSummary
    best_prefix_run: RunSummary
    timings_s: dict = field(default_factory=dict)


def seed_greedy(
    pair: Pair, settings: Settings, candidates, *, analysis=None, on_run=None, progress: Progress = None
) -> GreedyOutcome:
    """The greedy order search over ``candidates`` alone (without the progressive runs), with its audio.

    Parameters
    ----------
    pair : Pair
        The prepared pair.
    settings : Settings
    candidates : sequence of str
        Canonical slice names to order.
    analysis : Analysis, optional
        A ready fingerprinting of ``pair`` with the raw view and every candidate.
    on_run : callable(label, RunSummary), optional
        ``"greedy"`` and ``"best_prefix"`` as their audio is ready.
    progress : callable(fraction, label), optional

    Returns
    -------
    GreedyOutcome
    """
    from .analysis import analyse
    from .experiment import run_greedy
    from .views import RAW

    t0 = time.perf_counter()
    if analysis is None:
        analysis = analyse(pair, settings, views=(RAW, *candidates))
    timings = {"analyse": time.perf_counter() - t0}
    found, greedy_run, best_prefix_run = run_greedy(
        analysis, pair, candidates, on_run=on_run, progress=progress, timings=timings
    )
    return GreedyOutcome(greedy=found, greedy_run=greedy_run, best_prefix_run=best_prefix_run, timings_s=timings)


def belongs_together(progressive, greedy) -> bool:
    """Whether a greedy search belongs with a progressive test: made from the same pair with the same settings.

    Both are records with ``identity`` (the pair's content key) and ``settings``
    (e.g. the dashboard's ``RunRecord``); ``greedy`` may be ``None``.
    """
    return (
        greedy is not None
        and progressive is not None
        and greedy.identity == progressive.identity
        and greedy.settings == progressive.settings
    )


def eq_curves(analysis, slices) -> list:
    """Every pass's learned EQ curves of the run over ``slices``, the polish last: ``[(view, eq [400 × windows] dB)]``.

    ``analysis`` must hold the raw view and every slice (what the Optimise and Results pages draw).
    """
    from .optimise import run_chain

    chain = run_chain(analysis, tuple(slices), keep_eq=True)
    return [(p.view, p.eq) for p in chain.passes]


def with_greedy(result: ExperimentResult, greedy: GreedyOutcome | None) -> ExperimentResult:
    """``result`` (progressive runs) with a separately run greedy search added, as one experiment."""
    if greedy is not None:
        result.greedy, result.greedy_run, result.best_prefix_run = (
            greedy.greedy,
            greedy.greedy_run,
            greedy.best_prefix_run,
        )
        result.timings_s.update({f"greedy_{k}": v for k, v in greedy.timings_s.items()})
    return result


# --- the joint method -----------------------------------------------------------------------


@dataclass
class JointOutcome:
    """A joint matching: what it found, its audio, and its scores.

    Attributes
    ----------
    result : JointResult
    estimate : Estimate
        The target estimate on the engine pair's scale and ``mixture − target``.
    scores : dict or None
        :func:`vsep_core.evaluate.evaluate_joint`'s report (``None`` without a truth).
    seconds : float
        Wall time of the whole call.
    """

    result: object
    estimate: object
    scores: dict | None = None
    seconds: float = 0.0


def joint_matching(
    pair: Pair,
    settings: Settings,
    joint,
    *,
    truth: Pair | None = None,
    methods=(),
    analysis=None,
    progress: Progress = None,
    bss_filters: str = "global",
) -> JointOutcome:
    """Every window's EQ learned at once (:func:`vsep_core.joint.run_joint`), its audio and its scores.

    Parameters
    ----------
    pair : Pair
        The prepared (engine) pair.
    settings : Settings
    joint : JointSettings
    truth : Pair, optional
        The pair at its true scale with the same segment: when given, the
        result is scored (:func:`vsep_core.evaluate.evaluate_joint`).
    methods : sequence of str or None
        Reference methods scored beside it (``None``: the target's reference
        methods; default none).
    analysis : Analysis, optional
        A ready fingerprinting of ``pair`` with the joint loss's views.
    progress : callable(fraction, label), optional
    bss_filters : {"global", "framewise"}
        BSS Eval's distortion filters for the scores (:mod:`vsep_core.bss`).

    Returns
    -------
    JointOutcome
    """
    from .analysis import analyse
    from .joint import run_joint
    from .reconstruct import Estimate, vocal_from_db
    from .views import RAW

    t0 = time.perf_counter()
    if analysis is None:
        analysis = analyse(pair, settings, views=(RAW, *joint.view_names), progress=scaled(progress, 0.0, 0.05))
    end = 0.85 if truth is not None else 1.0
    found = run_joint(analysis, joint, progress=scaled(progress, 0.05, end))
    estimate = Estimate(vocal_raw=vocal_from_db(found.final_db, analysis), mixture=pair.mixture, sr=pair.sr)
    scores = None
    if truth is not None:
        from .evaluate import evaluate_joint

        report(progress, end, "Scoring the joint result against the true target")
        scores = evaluate_joint(
            found,
            analysis,
            truth,
            joint=joint,
            methods=methods,
            vocal_raw=estimate.vocal_raw,
            progress=scaled(progress, end, 1.0),
            bss_filters=bss_filters,
        )
    report(progress, 1.0, "Joint matching done")
    return JointOutcome(result=found, estimate=estimate, scores=scores, seconds=time.perf_counter() - t0)


# --- attribution ----------------------------------------------------------------------------


def attribution(
    truth: Pair,
    settings: Settings,
    *,
    method: str = "seed",
    slices=None,
    joint=None,
    weight: float = 1.0,
    progress: Progress = None,
) -> dict:
    """Each slice's effect: on the seed chain over ``slices`` (``method="seed"``), or added to the joint loss.

    Parameters
    ----------
    truth : Pair
        The pair at its true scale.
    settings : Settings
    method : {"seed", "joint", "learned_fingerprint"}
    slices : sequence of str, optional
        The chain (seed) or the slices to add one at a time (joint); default 1 … 18.
    joint : JointSettings, optional
        The joint baseline (joint only).
    weight : float
        Weight of an added slice (joint only).

    Returns
    -------
    dict
        :func:`vsep_core.attribute.attribute_slices`' or :func:`~vsep_core.attribute.attribute_joint`'s table.
    """
    from .attribute import attribute_joint, attribute_slices

    if method == "joint":
        return attribute_joint(truth, settings, joint, slices=slices, weight=weight, progress=progress)
    if method == "learned_fingerprint":  # blind: each slice of the predicted spectrogram added to the round trip
        from .learned import attribute_learned

        return attribute_learned(truth, settings, slices=slices, weight=weight, progress=progress)
    if method != "seed":
        raise VsepError(f"Unknown attribution method {method!r}; use seed, joint or learned_fingerprint.")
    return attribute_slices(truth, settings, order=slices, progress=progress)


# --- evaluation -----------------------------------------------------------------------------


def score_methods(
    truth: Pair,
    methods,
    settings: Settings | None = None,
    *,
    window_s: float | None = BSS_WINDOW_S,
    align: bool = False,
    max_lag_s: float = MAX_LAG_S,
    order=None,
    max_slices: int | None = None,
    joint=None,
    progress: Progress = None,
    bss_filters: str = "global",
    workers: int | None = None,
) -> dict:
    """Run named methods on a truth pair and score them: :func:`vsep_core.evaluate.evaluate_pair`'s report.

    ``window_s`` is the BSS Eval frame length (``None``: one whole-signal figure); ``bss_filters`` its
    distortion filters (``"global"``, SiSEC's, or ``"framewise"``); ``workers`` the methods run at once
    (default 2, or 1 on one core; :func:`vsep_core.evaluate.score`).
    """
    from .evaluate import evaluate_pair

    return evaluate_pair(
        truth,
        methods,
        settings=settings,
        window_s=window_s,
        align=align,
        max_lag_s=max_lag_s,
        order=order,
        max_slices=max_slices,
        joint=joint,
        progress=progress,
        bss_filters=bss_filters,
        workers=workers,
    )


def score_experiment(
    result: ExperimentResult,
    truth: Pair,
    *,
    methods=None,
    progress: Progress = None,
    bss_filters: str = "global",
    workers: int | None = None,
) -> dict:
    """An experiment's runs scored beside the reference methods: :func:`vsep_core.evaluate.evaluate_experiment`
    (``workers`` as :func:`score_methods`)."""
    from .evaluate import evaluate_experiment

    return evaluate_experiment(
        result, truth, methods=methods, progress=progress, bss_filters=bss_filters, workers=workers
    )


def quick_scores(result: ExperimentResult, truth: Pair) -> dict:
    """The runs' SI-SDR only: :func:`vsep_core.evaluate.experiment_si_sdr`."""
    from .evaluate import experiment_si_sdr

    return experiment_si_sdr(result, truth)


def batch_song(
    song,
    methods,
    settings: Settings,
    *,
    window_s: float | None = BSS_WINDOW_S,
    align: bool = False,
    max_lag_s: float = MAX_LAG_S,
    order=None,
    max_slices: int | None = None,
    stem: str | None = None,
    bss_filters: str = "global",
) -> dict:
    """Evaluate one song of a batch with one stem as the target; never raises (runs on a Dask worker).

    Parameters
    ----------
    song : vsep_core.batch.Song
    methods, settings, window_s, align, max_lag_s, order, max_slices, bss_filters
        As :func:`score_methods`.
    stem : str, optional
        The target (default the vocal; see ``Song.targets``).

    Returns
    -------
    dict
        ``{"song", "layout", "stem", "report"}`` or ``{"song", "layout", "stem", "error"}``
        with a message (``"stem"`` only for a stem other than the vocal).
    """
    from .batch import summed_stems
    from .evaluate import load_pair
    from .stems import DEFAULT_TARGET

    stem = stem or DEFAULT_TARGET
    out = {"song": song.name, "layout": song.layout}
    if stem != DEFAULT_TARGET:  # a vocal-only batch's outcomes read as they always did
        out["stem"] = stem
    try:
        if song.problem:
            raise VsepError(song.problem)
        if stem != DEFAULT_TARGET:
            if stem not in song.targets:
                raise VsepError(f"no {stem} file in this song folder.")
            pair = load_pair(song.mixture, vocal=song.targets[stem], settings=settings, target_name=stem)
        else:
            instrumental = song.instrumental
            if song.vocal is None and instrumental is None:
                instrumental = summed_stems(song.stems)
            pair = load_pair(song.mixture, vocal=song.vocal, instrumental=instrumental, settings=settings)
        pair.info.setdefault("song", song.name)
        out["report"] = score_methods(
            pair,
            methods,
            settings,
            window_s=window_s,
            align=align,
            max_lag_s=max_lag_s,
            order=order,
            max_slices=max_slices,
            bss_filters=bss_filters,
            workers=1,  # a batch runs songs at once, one process and one thread each: its memory stays bounded
        )
    except VsepError as exc:
        out["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken song must not stop the batch: record it and go on
        out["error"] = f"unexpected {type(exc).__name__}: {exc}"
    return out


# --- the learned fingerprint's training ------------------------------------------------------


def training_features(song, target: str, settings: Settings, config) -> dict:
    """One training song's features for ``train`` (:mod:`vsep_core.learned`): a dict of arrays.

    ``song`` is a :class:`vsep_core.learned_songs.TrainingSong`, ``config`` a
    :class:`vsep_core.learned.ModelConfig`; runs on a Dask worker or here.
    """
    from .learned import _song_features_task

    return _song_features_task(song, target, settings, config)


# --- full-quality output (issue #21) ---------------------------------------------------------


@dataclass
class FullQualityOutcome:
    """A result's EQ applied to the original mixture, and (with a truth) its scores.

    Attributes
    ----------
    estimate : FullQualityEstimate
        At the mixture file's own rate and channels (:mod:`vsep_core.full_quality`).
    scores : dict or None
        :func:`vsep_core.full_quality.score_full_quality`'s figures (``None`` without a target file).
    seconds : float
    """

    estimate: object
    scores: dict | None = None
    seconds: float = 0.0


def seed_eq(analysis, slices):
    """A seed run's whole EQ: every pass over ``slices`` and the polish added up, ``[n_points × windows]`` dB.

    ``analysis`` must hold the raw view and every slice (as for :func:`eq_curves`).
    """
    from .full_quality import total_eq

    return total_eq([eq for _, eq in eq_curves(analysis, slices)], analysis.n_windows, analysis.settings.n_points)


def full_quality(
    mixture,
    pair: Pair,
    settings: Settings,
    *,
    eq=None,
    slices=None,
    analysis=None,
    target=None,
    given: str = "vocal",
    window_s: float | None = BSS_WINDOW_S,
    bss_filters: str = "global",
    progress: Progress = None,
) -> FullQualityOutcome:
    """A result at full quality: its learned EQ applied to the original mixture's segment at the file's own
    sample rate and channels, and scored against the true target there.

    Parameters
    ----------
    mixture : path, bytes, file object or Decoded
        The original mixture file (the segment of ``settings`` is decoded with all its channels), or that
        segment already decoded (:func:`vsep_core.full_quality.decode_segment`).
    pair : Pair
        The engine pair the result was made from (its gains give the true scale, its length the hop).
    settings : Settings
        The result's settings.
    eq : np.ndarray [shape=(n_points, windows)], optional
        The result's EQ in dB (a joint result's ``eq``), or
    slices : sequence of str, optional
        a seed run's slices (its passes and polish are run again to read their curves; ``()`` is the
        polish alone).
    analysis : Analysis, optional
        A ready fingerprinting of ``pair`` with the raw view and ``slices``.
    target : path, bytes, file object or Decoded, optional
        The true target's file (``given="vocal"``) or everything else's (``given="instrumental"``): when
        given, the estimate is scored.
    window_s, bss_filters
        As :func:`score_methods`.
    progress : callable(fraction, label), optional

    Returns
    -------
    FullQualityOutcome

    Raises
    ------
    VsepError
        For neither or both of ``eq`` and ``slices``, an undecodable file, or a segment the engine refuses.
    """
    from .full_quality import full_quality_estimate, score_full_quality, target_at_rate

    t0 = time.perf_counter()
    if (eq is None) == (slices is None):
        raise VsepError("Give the result's EQ as exactly one of: its curves (eq), or a seed run's slices.")
    if given not in ("vocal", "instrumental"):
        raise VsepError(f"given must be vocal or instrumental, got {given!r}.")
    hop = analysis.hop_length if analysis is not None else settings.hop_for(pair.n_samples)
    if slices is not None:
        report(progress, 0.0, "Reading the run's EQ curves")
        if analysis is None:
            from .analysis import analyse
            from .views import RAW

            analysis = analyse(pair, settings, views=(RAW, *slices))
        eq = seed_eq(analysis, tuple(slices))
    report(progress, 0.3, "Applying the EQ to the original mixture")
    estimate = full_quality_estimate(mixture, eq, settings, analysis_hop=hop, pair_info=pair.info)
    scores = None
    if target is not None:
        report(progress, 0.5, "Scoring the full-quality estimate")
        truth = target_at_rate(target, estimate, settings, given=given)
        scores = score_full_quality(estimate, truth, window_s=window_s, bss_filters=bss_filters)
    report(progress, 1.0, "Full quality done")
    return FullQualityOutcome(estimate=estimate, scores=scores, seconds=time.perf_counter() - t0)


def full_quality_runs(
    mixture,
    pair: Pair,
    settings: Settings,
    runs: dict,
    *,
    analysis=None,
    target=None,
    given: str = "vocal",
    window_s: float | None = BSS_WINDOW_S,
    bss_filters: str = "global",
    on_run=None,
    progress: Progress = None,
) -> dict:
    """:func:`full_quality` for several seed runs: the files decoded and the pair analysed once.

    Parameters
    ----------
    runs : dict of str → sequence of str
        Each run's label and slices (e.g. from ``ExperimentResult.labelled_runs``).
    on_run : callable(label, FullQualityOutcome), optional
        Called as each run is ready (to write its files); its estimate is then dropped, so memory holds one
        run's audio at a time.
    mixture, pair, settings, analysis, target, given, window_s, bss_filters, progress
        As :func:`full_quality`.

    Returns
    -------
    dict of str → FullQualityOutcome
        Without audio when ``on_run`` is given (``estimate`` is ``None``: the scores and timing stay).
    """
    from .decode import Decoded
    from .full_quality import decode_segment

    used = sorted({name for slices in runs.values() for name in slices})
    if analysis is None and runs:
        from .analysis import analyse
        from .views import RAW

        analysis = analyse(pair, settings, views=(RAW, *used))
    if not isinstance(mixture, Decoded):
        mixture = decode_segment(mixture, settings)
    if target is not None and not isinstance(target, Decoded):
        target = decode_segment(target, settings, name=given)
    from .metrics import references_kept

    out = {}
    with references_kept():  # every run is scored against the same target: its references are made once
        for i, (label, slices) in enumerate(runs.items()):
            report(progress, i / max(len(runs), 1), f"Full quality: run {label}")
            found = full_quality(
                mixture,
                pair,
                settings,
                slices=tuple(slices),
                analysis=analysis,
                target=target,
                given=given,
                window_s=window_s,
                bss_filters=bss_filters,
            )
            if on_run is not None:
                on_run(label, found)
                found.estimate = None
            out[label] = found
    report(progress, 1.0, "Full quality done")
    return out
