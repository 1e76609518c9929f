"""The seed methods' caches: the last analysis and the recent greedy searches, each behind its lock.

``seed_progressive``, ``seed_greedy`` and ``seed_greedy_best`` in one
evaluation fingerprint the pair once and search once. Evaluations may run on
several threads (the dashboard's job pool, and one evaluation's methods run at
once: :func:`vsep_core.evaluate.score`), so both caches are read and changed
only under their locks, and a value asked for while another thread is making
it is waited for, not made a second time (twice the work and the memory).
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


#: Values being made, by cache and key → the lock their maker holds (see :func:`_made_once`).
_MAKING: dict = {}
_MAKING_LOCK = threading.Lock()


def _made_once(cache: OrderedDict, lock: threading.Lock, size: int, key: tuple, make):
    """``cache[key]``, or ``make()`` kept there; one thread makes it while others asking for it wait.

    Different keys are made at once (the making is outside the cache's lock).
    """
    found = _recall(cache, lock, key)
    if found is not None:
        return found
    with _MAKING_LOCK:
        maker = _MAKING.setdefault((id(cache), key), threading.Lock())
    try:
        with maker:
            found = _recall(cache, lock, key)  # made meanwhile by the thread this one waited for
            if found is None:
                found = make()
                _remember(cache, lock, size, key, found)
            return found
    finally:
        with _MAKING_LOCK:
            if _MAKING.get((id(cache), key)) is maker:
                del _MAKING[(id(cache), key)]


def analysis_for(pair: Pair, settings: Settings, views: tuple) -> Analysis:
    """:func:`vsep_core.analysis.analyse` of ``pair`` for ``views``, the last one kept (read-only after)."""
    views = tuple(views)
    key = (*_pair_key(pair, settings), views)
    return _made_once(
        _ANALYSIS_CACHE, _ANALYSIS_LOCK, _ANALYSIS_CACHE_SIZE, key, lambda: analyse(pair, settings, views=views)
    )


def greedy_for(pair: Pair, settings: Settings, candidates=SLICE_NAMES) -> tuple:
    """``(analysis, GreedyResult)``: the greedy search over ``candidates`` on ``pair``, the recent ones kept."""
    candidates = tuple(candidates)
    key = (*_pair_key(pair, settings), candidates)

    def search() -> tuple:
        analysis = analysis_for(pair, settings, (RAW, *candidates))
        return analysis, greedy_search(analysis, candidates)

    return _made_once(_GREEDY_CACHE, _GREEDY_LOCK, _GREEDY_CACHE_SIZE, key, search)


def clear() -> None:
    """Forget every kept analysis and greedy search."""
    with _ANALYSIS_LOCK:
        _ANALYSIS_CACHE.clear()
    with _GREEDY_LOCK:
        _GREEDY_CACHE.clear()
