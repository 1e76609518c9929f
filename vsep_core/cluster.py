"""Engine calls on a Dask cluster: where the dashboard's heavy jobs go when a scheduler is named.

The dashboard runs its heavy jobs (runs, the greedy search, scoring, joint
matching, attribution) through one job interface (``vsep_app.jobs``). By
default they run in the server process, in a bounded pool. When the person
running the server names a Dask scheduler — ``VSEP_DASK_SCHEDULER``, the same
address ``batch --scheduler`` takes — each job is one Dask task instead:
:func:`call` runs an engine function on a worker and relays its progress
through a ``distributed.Queue`` to the server, which draws it.

The tasks are the engine's own functions (:data:`TASKS`), called with the same
arguments the local path gives them, so a job computes the same numbers
wherever it runs. Workers need this package importable (start them from the
repository, or with it on ``PYTHONPATH``) and the same pinned libraries.
"""

from __future__ import annotations

import os
import time

from .errors import VsepError

#: Environment variable naming the Dask scheduler the dashboard sends its jobs to (e.g. ``tcp://10.0.0.5:8786``).
SCHEDULER_ENV = "VSEP_DASK_SCHEDULER"
#: Seconds to wait for the scheduler when connecting.
CONNECT_TIMEOUT_S = 10.0
#: A worker sends at most this many progress updates per second (each is a round trip to the scheduler).
PROGRESS_PER_S = 5.0

#: Names of the tasks run on this process as a Dask worker, in order (what a test can ask a worker for).
done_here: list[str] = []


def scheduler_address(environ=None) -> str | None:
    """The scheduler named by ``VSEP_DASK_SCHEDULER`` (``None`` when unset or blank: run jobs locally)."""
    environ = os.environ if environ is None else environ
    address = environ.get(SCHEDULER_ENV, "").strip()
    return address or None


def connect(address: str):
    """A ``distributed.Client`` for the scheduler at ``address``.

    Raises
    ------
    VsepError
        When the scheduler cannot be reached within :data:`CONNECT_TIMEOUT_S`.
    """
    from distributed import Client

    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S:g}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise VsepError(f"Cannot reach the Dask scheduler at {address!r} ({SCHEDULER_ENV}): {exc}") from exc


# --- the tasks: engine functions with the dashboard's arguments -----------------------------

def greedy_task(pair, settings, candidates, *, progress=None, on_run=None):
    """:func:`vsep_core.api.seed_greedy` (analysis made here): a ``GreedyOutcome``."""
    from .api import seed_greedy

    return seed_greedy(pair, settings, candidates, on_run=on_run, progress=progress)


def joint_task(pair, truth, settings, joint, *, progress=None):
    """:func:`vsep_core.api.joint_matching`, scored against ``truth``: a ``JointOutcome``."""
    from .api import joint_matching

    return joint_matching(pair, settings, joint, truth=truth, progress=progress)


def _tasks() -> dict:
    from functools import partial

    from . import api

    return {"run_experiment": api.seed_experiment, "greedy": greedy_task, "evaluate_experiment": api.score_experiment,
            "joint": joint_task, "attribute_slices": partial(api.attribution, method="seed"),
            "attribute_joint": partial(api.attribution, method="joint")}


#: The tasks :func:`call` may run, by name; each takes ``progress`` and those marked in
#: :data:`RUN_EVENTS` also ``on_run``.
TASKS = ("run_experiment", "greedy", "evaluate_experiment", "joint", "attribute_slices", "attribute_joint")
RUN_EVENTS = ("run_experiment", "greedy")


def run_task(name: str, args: tuple, kwargs: dict, queue_name: str | None = None):
    """Run task ``name`` here (on a Dask worker), sending ``["started"]`` first, then ``("progress", f, label)``
    and ``("run", label, run)`` events, to the ``distributed.Queue`` called ``queue_name``.

    Queue items must be msgpack-encodable, so a finished run is sent as plain
    lists, without its audio (the page draws its loss curve; the audio comes
    back with the task's result); :meth:`Remote.call` rebuilds it.
    """
    fn = _tasks()[name]
    queue = None
    if queue_name is not None:
        from distributed import Queue

        queue = Queue(queue_name)
    last = [0.0]

    def progress(fraction, label) -> None:
        now = time.monotonic()
        if queue is not None and now - last[0] >= 1.0 / PROGRESS_PER_S:
            last[0] = now
            queue.put(["progress", float(fraction), str(label)])

    def on_run(label, run) -> None:
        if queue is not None:
            queue.put(["run", str(label), list(run.slices), float(run.final_loss),
                       [float(x) for x in run.loss_curve], [float(x) for x in run.pass_losses]])

    extra = {"progress": progress} | ({"on_run": on_run} if name in RUN_EVENTS else {})
    if queue is not None:
        queue.put(["started"])
    result = fn(*args, **kwargs, **extra)
    done_here.append(name)
    return result


class Remote:
    """A connection to a Dask scheduler that runs :data:`TASKS` and relays their events.

    Parameters
    ----------
    address : str
        The scheduler's address.
    """

    def __init__(self, address: str):
        self.address = address
        self.client = connect(address)

    def call(self, name: str, args: tuple = (), kwargs: dict | None = None, emit=None, poll: float = 0.1):
        """Run task ``name`` on the cluster; ``emit(event)`` here for each of its events; its result.

        While the task waits for a free worker, ``emit(("progress", 0.0, "Waiting for a Dask worker…"))``.
        An exception raised by the task is raised here.
        """
        import uuid

        from distributed import Queue

        if name not in TASKS:
            raise ValueError(f"unknown task {name!r}")
        emit = emit or (lambda event: None)
        queue_name = f"vsep-{uuid.uuid4().hex}"
        queue = Queue(queue_name, client=self.client)
        future = self.client.submit(run_task, name, args, dict(kwargs or {}), queue_name, pure=False,
                                    key=f"vsep-{name}-{uuid.uuid4().hex[:12]}")
        # The task's first event says it has started on a worker; without it after a moment, it waits for one.
        started, waiting_after = False, time.monotonic() + 0.3
        try:
            while True:
                finished = future.done()
                for event in queue.get(batch=True):
                    if event[0] == "started":
                        started = True
                    else:
                        emit(_event(event))
                if finished:
                    break
                if not started and waiting_after is not None and time.monotonic() >= waiting_after:
                    waiting_after = None
                    emit(("progress", 0.0, f"Waiting for a Dask worker at {self.address}…"))
                time.sleep(poll)
            return future.result()
        finally:
            future.release()
            try:
                queue.close()
            except Exception:  # noqa: BLE001 - a closed client or scheduler: nothing left to clean
                pass

    def workers(self) -> list[str]:
        """The addresses of the cluster's workers."""
        return sorted(self.client.scheduler_info().get("workers", {}))

    def close(self) -> None:
        self.client.close()


def _event(item: list) -> tuple:
    """A queue item back as the event the local path emits."""
    if item[0] == "run":
        import numpy as np

        from .experiment import RunSummary

        _, label, slices, final_loss, curve, pass_losses = item
        return ("run", label, RunSummary(tuple(slices), final_loss, np.asarray(curve), list(pass_losses)))
    return tuple(item)
