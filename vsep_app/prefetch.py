"""Work started in the background for the page a visitor is likely to open next, and this session's view of it.

The results are kept in :mod:`vsep_app.cache`'s caches; what is under way for this session is in its
``st.session_state`` (:func:`vsep_app.jobs.prefetch`).
"""

from __future__ import annotations

import streamlit as st

from vsep_core import api
from vsep_core.settings import Settings

from . import jobs
from .cache import ANALYSIS_FIELDS, content_key, evaluation, pair, result_key, run_files, slice_figures, subset
from .limits import AUTO_MEASURE_S
from .state import RESULTS_PREFETCH, SLICES_PREFETCH, RunRecord, Source


def matching_greedy(prog: RunRecord, greedy_rec: RunRecord | None) -> RunRecord | None:
    """The greedy search when it belongs with the progressive test (:func:`vsep_core.api.belongs_together`)."""
    return greedy_rec if api.belongs_together(prog, greedy_rec) else None


def results_key(prog: RunRecord, greedy_rec: RunRecord | None) -> str:
    return content_key(result_key(prog, matching_greedy(prog, greedy_rec)), "results")


def prefetch_results(source: Source, prog: RunRecord, greedy_rec: RunRecord | None) -> None:
    """Score the runs and make their WAVs in the background while the visitor is still on Optimise.

    The Results page then finds them in the caches (or waits for the item it needs, see
    :func:`wait_for_results`). In the job pool like any heavy work; segments over
    :data:`AUTO_MEASURE_S` are measured only when asked.
    """
    greedy_used = matching_greedy(prog, greedy_rec)
    items = []
    if pair(source, prog.settings).duration_s <= AUTO_MEASURE_S:
        items.append(("metrics", lambda: evaluation(source, prog, greedy_used)))
    items.append(("files", lambda: run_files(source, prog, greedy_used)))
    jobs.prefetch(results_key(prog, greedy_rec), RESULTS_PREFETCH, items)


def _results_prefetch(prog: RunRecord, greedy_rec: RunRecord | None, item: str):
    """``(event, place)`` of ``item`` in this session's results prefetch for these records, or ``(None, None)``."""
    # The prefetch slot holds (key, {item: threading.Event}, place in the queue, ticket) (vsep_app.jobs.prefetch).
    current = st.session_state.get(RESULTS_PREFETCH)
    if current is None or current[0] != results_key(prog, greedy_rec):
        return None, None
    return current[1].get(item), (current[2] if len(current) > 2 else None)


def results_pending(prog: RunRecord, greedy_rec: RunRecord | None, item: str) -> bool:
    """Whether ``item`` ("metrics", "files") of this session's results prefetch is still being computed."""
    event, _ = _results_prefetch(prog, greedy_rec, item)
    return event is not None and not event.is_set()


def results_ready(prog: RunRecord, greedy_rec: RunRecord | None, item: str) -> bool:
    """Whether ``item`` of this session's results prefetch for these records has finished (so it is cached)."""
    event, _ = _results_prefetch(prog, greedy_rec, item)
    return event is not None and event.is_set()


def wait_for_results(
    prog: RunRecord, greedy_rec: RunRecord | None, item: str, on_wait=None, timeout: float = 300.0
) -> None:
    """Wait for ``item`` of this session's results prefetch, if it is under way (never computed twice at once).

    ``on_wait(ahead)`` is told the job's place while it waits for a slot of the pool.
    """
    event, place = _results_prefetch(prog, greedy_rec, item)
    if event is not None:
        jobs.wait_for_item(event, place, on_wait, timeout)


def slices_key(source: Source, settings: Settings) -> str:
    return content_key(source.identity, subset(settings, ANALYSIS_FIELDS))


def prefetch_slices(source: Source, settings: Settings) -> None:
    """Compute the Slices page's heatmaps in the background (see :func:`vsep_app.jobs.prefetch`)."""
    # The vocal only: the page opens on it, and the mixture's views would compete for the CPU with
    # the page being drawn (the mixture tab computes its own when opened).
    jobs.prefetch(
        slices_key(source, settings), SLICES_PREFETCH, [("vocal", lambda: slice_figures(source, settings, "vocal"))]
    )
