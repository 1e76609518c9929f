"""Run a slow, cached computation while the page shows its progress.

A ``st.cache_data`` function must not draw on elements created outside it
(a cache hit replays what it drew, and those elements would not exist), so
the engine's progress callback cannot move an ``st.progress`` bar directly
from inside a cached call. Instead the cached call runs on a worker thread
and reports through a queue; the script thread drains the queue and draws,
at most every ``interval`` seconds. On a cache hit the worker returns at
once and nothing needs drawing.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable

from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx


def run_with_events(job: Callable, on_events: Callable[[list, float, bool], None], *, interval: float = 0.25,
                    poll: float = 0.02):
    """Call ``job(emit)`` on a worker thread; pass what it emits to ``on_events`` here.

    Parameters
    ----------
    job : callable(emit) -> result
        ``emit(event)`` may be called from the worker with any object.
    on_events : callable(events, elapsed_s, done)
        Called on this (the script's) thread with the events gathered since
        the last call, at most every ``interval`` seconds, and once more when
        the job is done (``done=True``). Every call that draws sends the
        browser an update, which costs it tens of milliseconds: keep them few.

    Returns
    -------
    The job's result; an exception it raised is raised here.
    """
    events: queue.SimpleQueue = queue.SimpleQueue()
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = job(events.put)
        except BaseException as exc:  # handed to the script thread below
            box["error"] = exc

    worker = threading.Thread(target=target, name="vsep-job", daemon=True)
    ctx = get_script_run_ctx()
    if ctx is not None:
        add_script_run_ctx(worker, ctx)
    start = time.perf_counter()
    worker.start()
    last = start
    pending: list = []
    while True:
        worker.join(poll)
        alive = worker.is_alive()
        while True:
            try:
                pending.append(events.get_nowait())
            except queue.Empty:
                break
        now = time.perf_counter()
        if not alive or (pending and now - last >= interval):
            on_events(pending, now - start, not alive)
            pending, last = [], now
        if not alive:
            break
    if "error" in box:
        raise box["error"]
    return box["result"]


def prefetch(key: str, slot: str, items: list[tuple[str, Callable[[], object]]]) -> None:
    """Run ``items`` (name, work) one after another on a background thread, once per ``key``.

    Used to compute what the next page will show (the slice views) while the
    user is still reading this one. The session's ``slot`` remembers the key
    and one event per item, so that :func:`wait_for_prefetch` waits for just
    the item a page needs and the page never computes it a second time in
    parallel. Errors are left for the page to meet and report when it
    computes the same thing. Not used under AppTest (no browser to keep
    waiting, and its runtime ends with each run).
    """
    import streamlit as st

    if st.get_option("global.appTest"):
        return
    current = st.session_state.get(slot)
    if current is not None and current[0] == key:
        return
    done = {name: threading.Event() for name, _ in items}

    def target() -> None:
        for name, work in items:
            try:
                work()
            except Exception:  # noqa: BLE001 - the page reports it when it computes the same thing
                pass
            finally:
                done[name].set()

    worker = threading.Thread(target=target, name="vsep-prefetch", daemon=True)
    ctx = get_script_run_ctx()
    if ctx is not None:
        add_script_run_ctx(worker, ctx)
    worker.start()
    st.session_state[slot] = (key, done)


def wait_for_prefetch(key: str, slot: str, name: str, timeout: float = 120.0) -> None:
    """Wait for item ``name`` of the session's prefetch for ``key``, if one is under way."""
    import streamlit as st

    current = st.session_state.get(slot)
    if current is not None and current[0] == key and name in current[1] and not current[1][name].is_set():
        with st.spinner("Preparing the views…"):
            current[1][name].wait(timeout)
