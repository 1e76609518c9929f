"""Where a workflow runs: here, on the job threads, or on a Dask worker when a cluster is configured.

Each function is one :mod:`vsep_core.api` call, or that same call as a Dask task (:mod:`vsep_core.cluster`),
on inputs the caches have prepared; :mod:`vsep_app.cache` decides what is kept. ``emit`` receives the
progress and finished runs as events for the page's thread to draw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vsep_core import api

from . import jobs


@dataclass
class ProgressiveOutcome:
    """Progressive runs N = 1 … max_slices (with their audio in memory; files are made on demand)."""

    runs: list  # RunSummary per N
    timings_s: dict = field(default_factory=dict)


def _progress(emit):
    return lambda f, label: emit(("progress", f, label))


def progressive(p, settings, order: tuple, max_slices: int, analysis, emit) -> ProgressiveOutcome:
    """Progressive runs over ``order[:max_slices]``; ``analysis(view_names)`` makes the fingerprint targets
    here (a Dask worker makes its own)."""
    kwargs = dict(order=order, max_slices=max_slices, greedy=False)
    cluster = jobs.remote()
    if cluster is not None:  # the same call on a Dask worker (which makes the analysis there)
        result = cluster.call("run_experiment", (p, settings), kwargs, emit=emit)
        return ProgressiveOutcome(runs=result.progressive, timings_s=dict(result.timings_s))
    t0 = time.perf_counter()
    a = analysis(order[:max_slices])  # cached: shared with the greedy search and Slices
    analyse_s = time.perf_counter() - t0
    result = api.seed_experiment(
        p, settings, **kwargs, analysis=a, on_run=lambda label, run: emit(("run", label, run)), progress=_progress(emit)
    )
    return ProgressiveOutcome(runs=result.progressive, timings_s=dict(result.timings_s, analyse=analyse_s))


def greedy(p, settings, candidates: tuple, analysis, emit) -> api.GreedyOutcome:
    """The greedy order search over ``candidates``; ``analysis(view_names)`` as for :func:`progressive`."""
    cluster = jobs.remote()
    if cluster is not None:  # vsep_core.cluster.greedy_task: the same call on a Dask worker
        return cluster.call("greedy", (p, settings, candidates), emit=emit)
    t0 = time.perf_counter()
    a = analysis(candidates)
    analyse_s = time.perf_counter() - t0
    outcome = api.seed_greedy(
        p,
        settings,
        candidates,
        analysis=a,
        on_run=lambda label, run: emit(("run", label, run)),
        progress=_progress(emit),
    )
    outcome.timings_s["analyse"] = analyse_s
    return outcome


def joint(p, truth, settings, joint_settings, analysis, emit) -> api.JointOutcome:
    """The joint matching with its audio and scores (:func:`vsep_core.api.joint_matching`)."""
    cluster = jobs.remote()
    if cluster is not None:  # vsep_core.cluster.joint_task: the same call on a Dask worker
        return cluster.call("joint", (p, truth, settings, joint_settings), emit=emit)
    return api.joint_matching(
        p, settings, joint_settings, truth=truth, analysis=analysis(joint_settings.view_names), progress=_progress(emit)
    )


def attribution(truth, settings, method: str, slices: tuple, joint_settings, emit) -> dict:
    """Which slices help (:func:`vsep_core.api.attribution`)."""
    cluster = jobs.remote()
    if cluster is not None:  # the same engine call on a Dask worker
        return cluster.call(
            f"attribute_{'joint' if method == 'joint' else 'slices'}",
            (truth, settings),
            dict(slices=slices, joint=joint_settings),
            emit=emit,
        )
    return api.attribution(
        truth, settings, method=method, slices=slices, joint=joint_settings, progress=_progress(emit)
    )


def evaluation(result, truth, emit) -> dict:
    """The runs, oracle ceilings and blind floors scored (:func:`vsep_core.api.score_experiment`)."""
    cluster = jobs.remote()
    if cluster is not None:  # the same scoring on a Dask worker
        return cluster.call("evaluate_experiment", (result, truth), emit=emit)
    return api.score_experiment(result, truth, progress=_progress(emit))
