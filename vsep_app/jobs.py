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


def run_with_events(job: Callable, on_events: Callable[[list], None], *, interval: float = 0.1,
                    poll: float = 0.02):
    """Call ``job(emit)`` on a worker thread; pass what it emits to ``on_events`` here.

    Parameters
    ----------
    job : callable(emit) -> result
        ``emit(event)`` may be called from the worker with any object.
    on_events : callable(list of events)
        Called on this (the script's) thread with the events gathered since
        the last call, at most every ``interval`` seconds and once at the end.

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
    worker.start()
    last = 0.0
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
        if pending and (not alive or now - last >= interval):
            on_events(pending)
            pending, last = [], now
        if not alive:
            break
    if "error" in box:
        raise box["error"]
    return box["result"]
