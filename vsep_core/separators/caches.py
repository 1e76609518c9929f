"""The seed methods' caches: the last analysis and the recent greedy searches, each behind its lock.

``seed_progressive``, ``seed_greedy`` and ``seed_greedy_best`` in one
evaluation fingerprint the pair once and search once. Evaluations may run on
several threads (the dashboard's job pool), so both caches are read and
changed only under their locks.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from ..analysis import Analysis, analyse
from ..audio import Pair
from ..search import greedy_search
from ..settings import Settings
from ..views import RAW, SLICE_NAMES

#: Greedy searches of recent pairs, so that "seed_greedy" and "seed_greedy_best" in one evaluation search once.
_GREEDY_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_GREEDY_CACHE_SIZE = 4
_GREEDY_LOCK = threading.Lock()
#: The last analysis made for a seed method, so that "seed_progressive" and the greedy search over the
#: same slices in one evaluation fingerprint the pair once.
_ANALYSIS_CACHE: "OrderedDict[tuple, Analysis]" = OrderedDict()
_ANALYSIS_CACHE_SIZE = 1
_ANALYSIS_LOCK = threading.Lock()


def _pair_key(pair: Pair, settings: Settings) -> tuple:
    return (
        hashlib.sha1(pair.mixture.tobytes()).hexdigest(),
        hashlib.sha1(pair.vocal.tobytes()).hexdigest(),
        pair.sr,
        settings,
    )


def _remember(cache: OrderedDict, lock: threading.Lock, size: int, key: tuple, value) -> None:
    with lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)


def _recall(cache: OrderedDict, lock: threading.Lock, key: tuple):
    with lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    return None


def analysis_for(pair: Pair, settings: Settings, views: tuple) -> Analysis:
    """:func:`vsep_core.analysis.analyse` of ``pair`` for ``views``, the last one kept (read-only after)."""
    key = (*_pair_key(pair, settings), tuple(views))
    analysis = _recall(_ANALYSIS_CACHE, _ANALYSIS_LOCK, key)
    if analysis is None:
        analysis = analyse(pair, settings, views=tuple(views))  # outside the lock: other pairs need not wait
        _remember(_ANALYSIS_CACHE, _ANALYSIS_LOCK, _ANALYSIS_CACHE_SIZE, key, analysis)
    return analysis


def greedy_for(pair: Pair, settings: Settings, candidates=SLICE_NAMES) -> tuple:
    """``(analysis, GreedyResult)``: the greedy search over ``candidates`` on ``pair``, the recent ones kept."""
    candidates = tuple(candidates)
    key = (*_pair_key(pair, settings), candidates)
    found = _recall(_GREEDY_CACHE, _GREEDY_LOCK, key)
    if found is None:
        analysis = analysis_for(pair, settings, (RAW, *candidates))
        found = (analysis, greedy_search(analysis, candidates))
        _remember(_GREEDY_CACHE, _GREEDY_LOCK, _GREEDY_CACHE_SIZE, key, found)
    return found


def clear() -> None:
    """Forget every kept analysis and greedy search."""
    with _ANALYSIS_LOCK:
        _ANALYSIS_CACHE.clear()
    with _GREEDY_LOCK:
        _GREEDY_CACHE.clear()
