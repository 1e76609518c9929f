"""The greedy ordering search (spec §7)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .analysis import Analysis
from .errors import VsepError
from .optimise import check_views, polish_loss_after, run_pass, settle, uses_closed_form, working_profiles
from .progress import Progress, report
from .views import RAW, SLICE_NAMES, VIEWS_BY_NAME


@dataclass
class GreedyResult:
    """What the greedy search found.

    Attributes
    ----------
    steps : list of dict
        Step i's candidate losses: slice name → polish loss of
        ``sequence[:i] + [slice]``, in default slice order.
    sequence : list of str
        The full-length sequence (what the research code reports).
    best_prefix_length : int
        The step (1-based) whose chosen loss is lowest over all steps.
    """

    steps: list = field(default_factory=list)
    sequence: list = field(default_factory=list)
    best_prefix_length: int = 0

    @property
    def loss(self) -> float:
        """The full-length sequence's loss (the seed's reported figure)."""
        return self.steps[-1][self.sequence[-1]]

    @property
    def chosen_losses(self) -> list:
        """The chosen slice's loss at each step."""
        return [step[name] for step, name in zip(self.steps, self.sequence)]

    @property
    def best_prefix(self) -> list:
        return self.sequence[: self.best_prefix_length]

    @property
    def best_prefix_loss(self) -> float:
        return self.chosen_losses[self.best_prefix_length - 1]

    def to_dict(self) -> dict:
        return {
            "steps": [dict(step) for step in self.steps],
            "sequence": list(self.sequence),
            "loss": self.loss,
            "best_prefix": self.best_prefix,
            "best_prefix_length": self.best_prefix_length,
            "best_prefix_loss": self.best_prefix_loss,
        }


#: From this many windows on, a step's candidates are scored on several threads
#: (numpy releases the GIL on big arrays; below this, thread overhead wins).
THREADED_FROM_WINDOWS = 1024


def greedy_search(
    analysis: Analysis, candidates=SLICE_NAMES, *, workers: int | None = None, progress: Progress = None
) -> GreedyResult:
    """Build a slice order one slice at a time, keeping the lowest polish loss.

    At each step every unused candidate is tried after the sequence so far,
    followed by the polish; the candidate with the lowest polish loss joins
    the sequence (ties go to the earlier slice in the default order). The
    working matrix after the chosen prefix is computed once per step, so a
    step costs two passes per candidate.

    Parameters
    ----------
    analysis : Analysis
    candidates : sequence of str
        The slices to order (default: all 18).
    workers : int, optional
        Threads scoring a step's candidates (default: the CPU count for long
        inputs, 1 for short ones). The result does not depend on it.
    progress : callable(fraction, label), optional

    Returns
    -------
    GreedyResult
    """
    remaining = list(dict.fromkeys(candidates))
    if not remaining:
        raise VsepError("The greedy search needs at least one slice.")
    check_views(analysis, remaining)
    remaining.sort(key=lambda name: VIEWS_BY_NAME[name].index)
    total = len(remaining) * (len(remaining) + 1) // 2
    done = 0
    result = GreedyResult()
    working = analysis.mixture_db
    fused = uses_closed_form(analysis.settings)
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if analysis.n_windows >= THREADED_FROM_WINDOWS else 1

    buffers = threading.local()  # one EQ scratch matrix per thread

    def score(name: str, profile) -> float:
        if fused:
            if not hasattr(buffers, "eq"):
                buffers.eq = np.empty((analysis.settings.n_points, analysis.n_windows))
            return polish_loss_after(working, analysis, name, profile=profile, eq_buffer=buffers.eq)
        _, db_out = run_pass(working, analysis, name, curve=False, profile=profile)
        polish, _ = run_pass(settle(db_out, analysis.settings), analysis, RAW, curve=False, apply=False)
        return polish.final_loss

    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        while remaining:
            step = len(result.sequence) + 1
            profile = working_profiles(working, analysis.settings)  # shared by the step's candidates
            if pool is None:
                pending = [None] * len(remaining)
            else:  # submitted all at once, collected in order: progress comes from this thread
                pending = [pool.submit(score, name, profile) for name in remaining]
            losses = {}
            for name, future in zip(remaining, pending):
                losses[name] = score(name, profile) if future is None else future.result()
                done += 1
                report(progress, done / total, f"Greedy step {step}: tried {name}")
            best_name = min(remaining, key=lambda name: losses[name])  # min keeps the earlier on ties
            result.steps.append(losses)
            result.sequence.append(best_name)
            remaining.remove(best_name)
            _, db_out = run_pass(working, analysis, best_name, curve=False, profile=profile)
            working = settle(db_out, analysis.settings)
    finally:
        if pool is not None:
            pool.shutdown()
    chosen = result.chosen_losses
    result.best_prefix_length = chosen.index(min(chosen)) + 1
    report(progress, 1.0, "Greedy search done")
    return result
