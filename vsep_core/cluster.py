"""Engine calls on a Dask cluster: where the dashboard's heavy jobs go when a scheduler is named.

The dashboard runs its heavy jobs (runs, the greedy search, scoring, joint
matching, attribution) through one job interface (``vsep_app.jobs``). By
default they run in the server process, in a bounded pool. When the person
running the server names a Dask scheduler — ``VSEP_DASK_SCHEDULER``, the same
address ``batch --scheduler`` takes — each job is one Dask task instead:
:meth:`Remote.call` runs an engine function on a worker and relays its
progress through a ``distributed.Queue`` to the server, which draws it.

**A closed cluster.** Whoever can talk to a Dask scheduler or worker can run
any code there (that is what Dask is for). So vsep talks only to a cluster
with TLS and mutual authentication: the address must be ``tls://…`` and the
certificates (made by ``python -m vsep_core.cluster_setup certs DIR``) are
named by ``VSEP_DASK_CERTS``; anything else is refused with one message
before a connection is tried. The scheduler and workers are started by the
same module (docs/SERVING.md). And a task's result is never code for the
server: each task returns bytes of plain data (:mod:`vsep_core.cluster_codec`),
the server's client accepts only msgpack-encoded replies (a returned object
that Dask would have to unpickle is refused), and the result is rebuilt
through an allow-list after checking types, shapes and finite values.

The tasks are the engine's own functions (:func:`_tasks`), called with the
same arguments the local path gives them, so a job computes the same numbers
wherever it runs. Workers need this package importable (the cluster_setup
commands put the checkout on ``PYTHONPATH``) and the same pinned libraries.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from .errors import VsepError

log = logging.getLogger(__name__)

#: Environment variable naming the Dask scheduler the dashboard sends its jobs to (``tls://10.0.0.5:8786``).
SCHEDULER_ENV = "VSEP_DASK_SCHEDULER"
#: Environment variable naming the folder of the cluster's certificates (what ``cluster_setup certs`` wrote).
CERTS_ENV = "VSEP_DASK_CERTS"
#: The files of that folder: the cluster's certificate authority, and the one certificate and key that
#: every member (scheduler, workers, the dashboard and ``batch`` as clients) presents.
CA_FILE, CERT_FILE, KEY_FILE = "ca.pem", "node.pem", "node-key.pem"
#: Seconds to wait for the scheduler when connecting.
CONNECT_TIMEOUT_S = 10.0
#: A worker sends at most this many progress updates per second (each is a round trip to the scheduler).
PROGRESS_PER_S = 5.0
#: What the server's client accepts from the cluster: msgpack only (a result Dask would unpickle is refused).
DESERIALIZERS = ("msgpack",)


def scheduler_address(environ=None) -> str | None:
    """The scheduler named by ``VSEP_DASK_SCHEDULER`` (``None`` when unset or blank: run jobs locally)."""
    environ = os.environ if environ is None else environ
    address = environ.get(SCHEDULER_ENV, "").strip()
    return address or None


def certificate_files(folder) -> dict:
    """The paths of the CA, the certificate and the key in ``folder``; VsepError naming a missing one."""
    folder = Path(folder).expanduser()
    files = {"ca": folder / CA_FILE, "cert": folder / CERT_FILE, "key": folder / KEY_FILE}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise VsepError(
            f"The Dask certificates folder {str(folder)!r} has no {', '.join(missing)} "
            "(make them with: python -m vsep_core.cluster_setup certs DIR)."
        )
    return files


def security(environ=None):
    """The ``distributed.Security`` of a vsep client: mutual TLS with the certificates of ``VSEP_DASK_CERTS``.

    Raises
    ------
    VsepError
        When ``VSEP_DASK_CERTS`` is unset or its folder lacks a file.
    """
    from distributed import Security

    environ = os.environ if environ is None else environ
    folder = environ.get(CERTS_ENV, "").strip()
    if not folder:
        raise VsepError(
            f"{CERTS_ENV} is not set: vsep talks to a Dask cluster only with its certificates "
            "(docs/SERVING.md, 'Heavy jobs on a Dask cluster')."
        )
    files = certificate_files(folder)
    return Security(
        tls_ca_file=str(files["ca"]),
        tls_client_cert=str(files["cert"]),
        tls_client_key=str(files["key"]),
        require_encryption=True,
    )


def check_address(address: str) -> str:
    """``address`` if it is a ``tls://host:port`` scheduler address; VsepError otherwise (one line)."""
    text = str(address).strip()
    if not text.startswith("tls://") or not text[len("tls://") :].strip(":/"):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise VsepError(
            f"The Dask scheduler address {shown!r} is not a TLS address: vsep talks only to a "
            f"cluster with TLS and certificates (tls://host:port and {CERTS_ENV}; docs/SERVING.md)."
        )
    return text


def connect(address: str, environ=None):
    """A ``distributed.Client`` for the scheduler at ``address``, with mutual TLS, accepting plain data only.

    Raises
    ------
    VsepError
        When the address is not ``tls://``, the certificates are not configured, or the scheduler cannot be
        reached (or refuses the certificate) within :data:`CONNECT_TIMEOUT_S`.
    """
    address = check_address(address)
    sec = security(environ)
    from distributed import Client

    try:
        return Client(
            address,
            security=sec,
            timeout=f"{CONNECT_TIMEOUT_S:g}s",
            set_as_default=False,
            deserializers=list(DESERIALIZERS),
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise VsepError(
            f"Cannot reach the Dask scheduler at {address!r} ({SCHEDULER_ENV}), or it refused the "
            f"certificate of {CERTS_ENV}: {exc}"
        ) from exc


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

    return {
        "run_experiment": api.seed_experiment,
        "greedy": greedy_task,
        "evaluate_experiment": api.score_experiment,
        "joint": joint_task,
        "attribute_slices": partial(api.attribution, method="seed"),
        "attribute_joint": partial(api.attribution, method="joint"),
        "batch_song": api.batch_song,
        "learned_features": api.training_features,
    }


#: The tasks :func:`run_task` may run, by name; each takes ``progress`` except those in :data:`NO_PROGRESS`,
#: and those in :data:`RUN_EVENTS` also ``on_run``.
TASKS = (
    "run_experiment",
    "greedy",
    "evaluate_experiment",
    "joint",
    "attribute_slices",
    "attribute_joint",
    "batch_song",
    "learned_features",
)
RUN_EVENTS = ("run_experiment", "greedy")
NO_PROGRESS = ("batch_song", "learned_features")


def run_task(name: str, args: tuple, kwargs: dict, queue_name: str | None = None) -> bytes:
    """Run task ``name`` here (on a Dask worker); its result, or its error, as plain-data bytes
    (:func:`vsep_core.cluster_codec.encode`), never raised.

    When ``queue_name`` is given, sends ``["started"]`` first, then ``["progress", f, label]`` and
    ``["run", label, slices, final_loss, loss_curve, pass_losses]`` events to the ``distributed.Queue`` of
    that name. Queue items are msgpack-encoded plain lists (a finished run without its audio: the page
    draws its loss curve; the audio comes back with the task's result); :meth:`Remote.call` checks and
    rebuilds them.
    """
    from .cluster_codec import encode, encode_error

    try:
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
                queue.put(
                    [
                        "run",
                        str(label),
                        [str(s) for s in run.slices],
                        float(run.final_loss),
                        [float(x) for x in run.loss_curve],
                        [float(x) for x in run.pass_losses],
                    ]
                )

        extra = {} if name in NO_PROGRESS else {"progress": progress}
        if name in RUN_EVENTS:
            extra["on_run"] = on_run
        if queue is not None:
            queue.put(["started"])
        return encode(fn(*args, **kwargs, **extra))
    except Exception as exc:  # sent back as plain data, so no exception object travels
        if not isinstance(exc, VsepError):
            log.exception("vsep task %r failed", name)
        return encode_error(exc)


class Remote:
    """A connection to a Dask scheduler that runs :data:`TASKS` and relays their events.

    Parameters
    ----------
    address : str
        The scheduler's address (``tls://``).
    environ : mapping, optional
        Where ``VSEP_DASK_CERTS`` is read (default ``os.environ``).
    """

    def __init__(self, address: str, environ=None):
        self.address = address
        self.client = connect(address, environ)

    def call(self, name: str, args: tuple = (), kwargs: dict | None = None, emit=None, poll: float = 0.1):
        """Run task ``name`` on the cluster; ``emit(event)`` here for each of its events; its result.

        While the task waits for a free worker, ``emit(("progress", 0.0, "Waiting for a Dask worker…"))``.
        The result is decoded from plain data (:func:`vsep_core.cluster_codec.decode`); the task's error is
        raised here (VsepError for bad input, ``cluster_codec.TaskFailed`` otherwise), and so is a VsepError
        for a result or event that is not what a vsep task sends.
        """
        import uuid

        from distributed import Queue

        from .cluster_codec import decode

        if name not in TASKS:
            raise ValueError(f"unknown task {name!r}")
        emit = emit or (lambda event: None)
        queue_name = f"vsep-{uuid.uuid4().hex}"
        queue = Queue(queue_name, client=self.client)
        future = self.client.submit(
            run_task, name, args, dict(kwargs or {}), queue_name, pure=False, key=f"vsep-{name}-{uuid.uuid4().hex[:12]}"
        )
        # The task's first event says it has started on a worker; without it after a moment, it waits for one.
        started, waiting_after = False, time.monotonic() + 0.3
        try:
            while True:
                finished = future.done()
                for event in queue.get(batch=True):
                    if isinstance(event, (list, tuple)) and list(event) == ["started"]:
                        started = True
                    else:
                        emit(_event(event))
                if finished:
                    break
                if not started and waiting_after is not None and time.monotonic() >= waiting_after:
                    waiting_after = None
                    emit(("progress", 0.0, f"Waiting for a Dask worker at {self.address}…"))
                time.sleep(poll)
            blob = _plain_result(future)
        finally:
            future.release()
            try:
                queue.close()
            except Exception:  # noqa: BLE001 - a closed client or scheduler: nothing left to clean
                pass
        return decode(blob, name)

    def workers(self) -> list[str]:
        """The addresses of the cluster's workers."""
        return sorted(self.client.scheduler_info().get("workers", {}))

    def close(self) -> None:
        self.client.close()


def _plain_result(future) -> bytes:
    """The task's result as sent: bytes, or a VsepError (a reply that is not msgpack is never unpickled)."""
    try:
        return future.result()
    except TypeError as exc:  # distributed refused data serialised other than by msgpack (DESERIALIZERS)
        raise VsepError(
            f"The Dask cluster sent a result that is not plain data; it was refused ({str(exc)[:200]})."
        ) from None


def _event(item) -> tuple:
    """A queue item back as the event the local path emits, after checking that it is one."""
    from .cluster_codec import is_finite_number

    def bad() -> VsepError:
        return VsepError("The Dask cluster sent a progress event that is not a vsep event; it was refused.")

    if not isinstance(item, (list, tuple)) or not item or not isinstance(item[0], str):
        raise bad()
    if item[0] == "progress":
        if len(item) != 3 or not is_finite_number(item[1]) or not isinstance(item[2], str):
            raise bad()
        return ("progress", float(item[1]), item[2][:500])
    if item[0] == "run":
        if len(item) != 6:
            raise bad()
        _, label, slices, final_loss, curve, pass_losses = item
        if not (
            isinstance(label, str)
            and isinstance(slices, (list, tuple))
            and all(isinstance(x, str) for x in slices)
            and is_finite_number(final_loss)
            and isinstance(curve, (list, tuple))
            and all(is_finite_number(x) for x in curve)
            and isinstance(pass_losses, (list, tuple))
            and all(is_finite_number(x) for x in pass_losses)
        ):
            raise bad()
        import numpy as np

        from .experiment import RunSummary

        return (
            "run",
            label,
            RunSummary(
                tuple(slices), float(final_loss), np.asarray(curve, dtype=float), [float(x) for x in pass_losses]
            ),
        )
    raise bad()
