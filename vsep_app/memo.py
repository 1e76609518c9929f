"""The dashboard's one cache: a small, thread-safe memo owned by the app (no Streamlit in it).

``@memo(max_entries=8, ttl=7200)`` keeps a function's results keyed, as
``st.cache_data`` keys them, on the arguments whose names do not start with
``_`` (those stand for the ones that do: bytes, prepared pairs, callbacks).
Why not Streamlit's caches:

* the dashboard's engine work runs on worker threads (:mod:`vsep_app.jobs`),
  and Streamlit does not support app code calling Streamlit off the script
  thread; a plain cache needs no script context;
* any client can send Streamlit's ``clear_cache`` message on a bare WebSocket,
  and Streamlit then empties ``st.cache_data`` and ``st.cache_resource`` for
  every session (no option turns that off); this cache is not reachable from
  the wire.

Behaviour, per memoised function:

* at most ``max_entries`` results, the least recently used dropped first, and
  none older than ``ttl`` seconds (counted from when it was computed);
* optionally at most ``max_bytes`` in all (estimated by :func:`approx_nbytes`;
  a result bigger than that is returned but not kept);
* one lock per key: when two sessions ask for the same result at once, it is
  computed once and the second caller waits for it; different keys compute in
  parallel;
* an exception is raised to its caller and nothing is kept (the next call
  computes again);
* each caller gets its own copy (``copy=True``, as ``st.cache_data`` returns
  a fresh copy on every call), so no session can change what another one sees;
  ``copy=False`` returns the kept object itself (for resources, e.g. a thread);
  ``read_only=True`` returns it too, its arrays made read-only when it is kept
  (:func:`make_read_only`), for large results that callers only read (a whole
  song's analysis is hundreds of MB: a copy for each caller cost that much
  memory and time again): a caller that writes into one gets numpy's
  ``ValueError`` instead of changing what another session sees;
* :meth:`Memo.find` gives a kept result that can stand for another key's (e.g.
  an analysis of more views for one of fewer).

Each computation is logged at DEBUG on the ``vsep_app.memo`` logger (name,
seconds, estimated size, entries kept), and each hit too, so an operator (or a
test reading the server's log) can see what was computed and what was reused.
"""

from __future__ import annotations

import collections
import copy as copying
import dataclasses
import functools
import hashlib
import inspect
import logging
import threading
import time
import weakref
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

_ALL: "weakref.WeakSet[Memo]" = weakref.WeakSet()


def _freeze(value):
    """A hashable, exact, type-tagged stand-in for a key argument (TypeError for what cannot be one)."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return (type(value).__name__, value)
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", float(value).hex())  # exact, and NaN equals itself
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return ("ndarray", data.dtype.str, data.shape, hashlib.sha256(data.view(np.uint8).reshape(-1)).hexdigest())
    if isinstance(value, np.generic):
        return ("np", value.dtype.str, _freeze(value.item()))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((_freeze(v) for v in value), key=repr)))
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((_freeze(k), _freeze(v)) for k, v in value.items()), key=repr)))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__qualname__,
            tuple((f.name, _freeze(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    raise TypeError(
        f"a memo key cannot hold a {type(value).__name__}; give it a name starting with '_' "
        "and pass a key argument that stands for it"
    )


def make_read_only(value):
    """``value`` with every numpy array in it (through dicts, sequences and dataclasses) made read-only.

    For a result shared by every caller (:class:`Memo` with ``read_only=True``). The containers themselves
    stay as they are: the callers of such a result only read it (what is cached: :mod:`vsep_app.cache`).
    """
    seen = set()

    def walk(item) -> None:
        if id(item) in seen:
            return
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            item.flags.writeable = False
        elif isinstance(item, dict):
            for v in item.values():
                walk(v)
        elif isinstance(item, (list, tuple, set, frozenset)):
            for v in item:
                walk(v)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            for f in dataclasses.fields(item):
                walk(getattr(item, f.name, None))

    walk(value)
    return value


def approx_nbytes(value, _seen: set | None = None) -> int:
    """Bytes held by ``value``'s arrays, bytes and strings (through dicts, sequences, dataclasses and objects)."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return int(value.nbytes) if value.base is None or id(value.base) not in seen else 0
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(approx_nbytes(k, seen) + approx_nbytes(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(approx_nbytes(v, seen) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(approx_nbytes(getattr(value, f.name, None), seen) for f in dataclasses.fields(value))
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return approx_nbytes(vars(value), seen)
    return 0


@dataclasses.dataclass
class _Entry:
    value: object
    stored: float
    nbytes: int


class Memo:
    """A memoised function (see the module). Call it like the function; :meth:`clear`, :meth:`stats`.

    Parameters
    ----------
    func : callable
        The function; its arguments whose names start with ``_`` are not part of the key.
    max_entries : int
        Results kept at most (at least 1).
    ttl : float, optional
        Seconds a result is kept after it was computed (``None``: no limit).
    max_bytes : int, optional
        Estimated bytes kept at most in all (``None``: no limit).
    copy : bool
        Give each caller its own deep copy (default) or the kept object itself.
    read_only : bool
        Give each caller the kept object itself, its arrays made read-only (:func:`make_read_only`);
        ``copy`` is then not used.
    clock : callable
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        func: Callable,
        *,
        max_entries: int,
        ttl: float | None = None,
        max_bytes: int | None = None,
        copy: bool = True,
        read_only: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        if int(max_entries) < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries!r}")
        if ttl is not None and not float(ttl) > 0:
            raise ValueError(f"ttl must be a positive number of seconds or None, not {ttl!r}")
        if max_bytes is not None and int(max_bytes) < 1:
            raise ValueError(f"max_bytes must be a positive number of bytes or None, not {max_bytes!r}")
        self.func = func
        self.max_entries = int(max_entries)
        self.ttl = None if ttl is None else float(ttl)
        self.max_bytes = None if max_bytes is None else int(max_bytes)
        self.read_only = bool(read_only)
        self.copy = bool(copy) and not self.read_only
        self.clock = clock
        self.name = f"{func.__module__}.{func.__qualname__}"
        self._signature = inspect.signature(func)
        self._lock = threading.Lock()  # guards the dicts and counters below; never held while computing
        self._entries: collections.OrderedDict = collections.OrderedDict()  # key -> _Entry, least recent first
        self._computing: dict = {}  # key -> [lock held while that key is computed, callers using it]
        self.hits = 0
        self.misses = 0
        functools.update_wrapper(self, func)
        _ALL.add(self)

    def key(self, *args, **kwargs) -> tuple:
        """The key of a call: its non-underscore arguments (defaults applied), frozen."""
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple((name, _freeze(value)) for name, value in bound.arguments.items() if not name.startswith("_"))

    def _drop_expired(self) -> None:
        """Forget the entries older than the TTL; the caller holds ``self._lock``."""
        if self.ttl is not None:
            now = self.clock()
            for old in [k for k, e in self._entries.items() if now - e.stored >= self.ttl]:
                del self._entries[old]

    def _lookup(self, key):
        """The kept entry for ``key`` (dropping expired ones); the caller holds ``self._lock``."""
        self._drop_expired()
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return entry

    def _give(self, value):
        return copying.deepcopy(value) if self.copy else value

    def __call__(self, *args, **kwargs):
        key = self.key(*args, **kwargs)
        with self._lock:
            entry = self._lookup(key)
            if entry is None:
                computing = self._computing.setdefault(key, [threading.Lock(), 0])
                computing[1] += 1
        if entry is not None:
            log.debug("memo %s: hit", self.name)
            return self._give(entry.value)
        try:
            with computing[0]:  # one computation per key; a second caller waits here for the first's result
                with self._lock:
                    entry = self._lookup(key)
                if entry is not None:
                    log.debug("memo %s: hit (computed meanwhile by another caller)", self.name)
                    return self._give(entry.value)
                t0 = time.perf_counter()
                value = self.func(*args, **kwargs)  # an exception leaves nothing behind
                if self.read_only:
                    make_read_only(value)
                seconds = time.perf_counter() - t0
                self._keep(key, value, seconds)
                return self._give(value)
        finally:
            with self._lock:
                computing[1] -= 1
                if computing[1] == 0:
                    del self._computing[key]

    def _keep(self, key, value, seconds: float) -> None:
        nbytes = approx_nbytes(value)
        with self._lock:
            self.misses += 1
            if self.max_bytes is not None and nbytes > self.max_bytes:
                kept = False
            else:
                self._entries[key] = _Entry(value, self.clock(), nbytes)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries or (
                    self.max_bytes is not None and sum(e.nbytes for e in self._entries.values()) > self.max_bytes
                ):
                    self._entries.popitem(last=False)
                kept = True
            entries = len(self._entries)
        log.debug(
            "memo %s: computed in %.3f s, %.1f MB%s, %d entr%s kept",
            self.name,
            seconds,
            nbytes / 1e6,
            "" if kept else " (over max_bytes: not kept)",
            entries,
            "y" if entries == 1 else "ies",
        )

    def find(self, match: Callable[[tuple], bool]):
        """A kept result whose key ``match`` accepts (the most recently used first), given as a hit is (a copy
        unless ``copy=False``), or ``None``. For a result that can stand for another key's (e.g. a superset):
        nothing is computed."""
        with self._lock:
            self._drop_expired()
            for key in reversed(self._entries):
                if match(key):
                    entry = self._entries[key]
                    self._entries.move_to_end(key)
                    self.hits += 1
                    break
            else:
                return None
        log.debug("memo %s: hit (a kept result that stands for this key)", self.name)
        return self._give(entry.value)

    def clear(self) -> None:
        """Forget every kept result (computations under way finish and are kept)."""
        with self._lock:
            self._entries.clear()

    def stats(self) -> dict:
        """``{"entries", "bytes", "hits", "misses"}`` now."""
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": sum(e.nbytes for e in self._entries.values()),
                "hits": self.hits,
                "misses": self.misses,
            }


def memo(
    *,
    max_entries: int,
    ttl: float | None = None,
    max_bytes: int | None = None,
    copy: bool = True,
    read_only: bool = False,
):
    """Decorator: ``@memo(max_entries=8, ttl=TTL)`` makes a :class:`Memo` of the function (see the module)."""

    def wrap(func: Callable) -> Memo:
        return Memo(func, max_entries=max_entries, ttl=ttl, max_bytes=max_bytes, copy=copy, read_only=read_only)

    return wrap


def clear_all() -> None:
    """Empty every memo of the process (tests that must compute, not find, a result)."""
    for one in list(_ALL):
        one.clear()
