"""The dashboard's heavy work: one bounded, first-come-first-served pool per server process.

Every session of a Streamlit server runs in the same process. Without a bound,
eight visitors pressing *Run* at once start eight optimisers on two cores: each
takes eight times as long and memory grows with every one. Here a job first
takes a *slot* of the process-wide :class:`JobPool` (``VSEP_JOB_WORKERS`` slots;
by default as many as the cores this process may use, at most 2); when none is
free it waits in line, first come first served, and its progress widget says
how many jobs are ahead of it. A slot is one session's turn: the session's
next steps and background work run in it without queueing again. A job's exception is handed back to the session
that started it (raised on its script thread, where ``frame.guard`` turns it into
a message); it never reaches the pool or other sessions.

Streamlit does not support app code calling Streamlit from other threads, so
a job's worker thread never does: it calls the engine through the app's own
caches (:mod:`vsep_app.memo`, plain Python) and reports its progress through a
queue; the script thread drains the queue and draws, at most every
``interval`` seconds. What a worker needs to know of its session (the owner of
its pool slot) is captured as a plain value on the script thread.

**On a Dask cluster.** When ``VSEP_DASK_SCHEDULER`` names a scheduler (the
same address ``batch --scheduler`` takes), :func:`remote` connects to it once
per process and ``vsep_app.cache`` sends each heavy job there as one task
(:mod:`vsep_core.cluster`): the same engine call, run on a worker, its progress
relayed back and its result decoded from plain data. Only a closed cluster is
accepted: a ``tls://`` address with the certificates of ``VSEP_DASK_CERTS``
(anything else is one message on the page, nothing computed locally). The pool above still orders the sessions' turns, with 8 slots by
default instead of the cores' count (the server only waits and draws; the
cluster's scheduler queues the tasks, and a waiting job says so).

Nothing here imports Streamlit at module level except ``get_script_run_ctx``,
called on the script thread only (whose session is this, and is there one):
the pool itself is plain Python and is tested without a server.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import logging
import os
import queue
import threading
import time
import weakref
from typing import Callable, Iterator

from streamlit.runtime.scriptrunner import get_script_run_ctx

from vsep_core.cluster import SCHEDULER_ENV, Remote, scheduler_address
from vsep_core.errors import VsepError

log = logging.getLogger(__name__)

#: Environment variable naming the number of jobs that may run at once in one server process.
WORKERS_ENV = "VSEP_JOB_WORKERS"
MAX_DEFAULT_WORKERS = 2
#: The pool's slots by default when the jobs run on a Dask cluster.
CLUSTER_DEFAULT_WORKERS = 8


def default_workers(environ: dict | None = None) -> int:
    """Slots of the process-wide pool: ``VSEP_JOB_WORKERS`` if it is a positive integer, else min(cores, 2)
    (:data:`CLUSTER_DEFAULT_WORKERS` when the jobs go to a Dask cluster)."""
    environ = os.environ if environ is None else environ
    value = _positive_setting(environ, WORKERS_ENV, int, "a positive whole number")
    if value is not None:
        return value
    if scheduler_address(environ) is not None:
        return CLUSTER_DEFAULT_WORKERS
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


#: Environment variable: the most seconds one job may compute before it is stopped (with a message).
TIME_LIMIT_ENV = "VSEP_JOB_TIME_S"
#: The default time budget per job (seconds). The longest legitimate job of the dashboard's ranges, the
#: progressive test N = 1 … 18 with the iterative loop at 1000 iterations on a 50 s segment, is ~190 passes of
#: ~1.7 s (2 cores); the greedy search with the loop at such settings would take hours and is stopped.
DEFAULT_TIME_LIMIT_S = 600.0


def job_time_limit_s(environ: dict | None = None) -> float:
    """``VSEP_JOB_TIME_S`` if it is a positive number of seconds, else :data:`DEFAULT_TIME_LIMIT_S`."""
    environ = os.environ if environ is None else environ
    value = _positive_setting(environ, TIME_LIMIT_ENV, float, "a positive number of seconds")
    return DEFAULT_TIME_LIMIT_S if value is None else value


def _positive_setting(environ, name: str, parse, what: str):
    """The environment setting ``name`` parsed with ``parse`` if it is finite and positive; ``None`` when it is
    unset, or (with a warning) when it is not ``what``."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = parse(raw)
    except ValueError:
        value = 0
    if value > 0 and value != float("inf"):  # NaN fails the first test
        return value
    log.warning("%s=%r is not %s; using the default", name, raw, what)
    return None


class JobStopped(VsepError):
    """A job stopped before its end (its page stopped waiting for it, or it hit the time budget)."""


class JobTimeLimit(JobStopped):
    """A job ran longer than the server's time budget per job (:data:`TIME_LIMIT_ENV`)."""

    def __init__(self, limit_s: float):
        super().__init__(
            f"This job was stopped after {limit_s:g} s: that is this server's time limit per job "
            f"({TIME_LIMIT_ENV}). Choose fewer slices or iterations, the closed form (“How a pass "
            "is computed”), or a shorter segment, and run it again."
        )
        self.limit_s = limit_s


class JobAbandoned(JobStopped):
    """The page that started a job stopped waiting for it (the tab was closed, the session ended, a rerun)."""

    def __init__(self):
        super().__init__("This job was stopped: the page that started it was closed or started something else.")


class JobControl:
    """Cooperative cancellation of one job: the engine's progress callbacks call :meth:`check`.

    Python threads cannot be killed; a job stops at its next progress report
    (the engine reports at least once per pass, step or scored method), where
    :meth:`check` raises :class:`JobStopped` once the job was stopped or its
    time budget is spent. The exception unwinds the engine call (a cached
    function caches nothing then) and the worker thread ends.
    """

    def __init__(self, limit_s: float):
        self.limit_s = float(limit_s)
        self.deadline = time.monotonic() + self.limit_s
        self._stopped: Callable[[], JobStopped] | None = None

    def stop(self, why: Callable[[], JobStopped]) -> None:
        if self._stopped is None:
            self._stopped = why

    @property
    def stopped(self) -> bool:
        return self._stopped is not None

    def overdue(self, grace_s: float = 0.0) -> bool:
        return time.monotonic() > self.deadline + grace_s

    def check(self) -> None:
        """Raise :class:`JobStopped` if the job was stopped or is over its time budget."""
        if self._stopped is None and self.overdue():
            self.stop(lambda: JobTimeLimit(self.limit_s))
        if self._stopped is not None:
            raise self._stopped()


def _once(release: Callable[[], None]) -> Callable[[], None]:
    """``release`` callable any number of times from any thread; it runs once."""
    lock, done = threading.Lock(), [False]

    def call() -> None:
        with lock:
            if done[0]:
                return
            done[0] = True
        release()

    return call


def _streamlit_checkpoint() -> Callable[[], None] | None:
    """A cheap yield point for this script thread, or ``None`` outside a Streamlit script run.

    Streamlit stops or reruns a script only where it sends the page something
    (the documented behaviour: most ``st`` calls are the points where a rerun or
    stop takes effect). A job's waiting loop may draw nothing for seconds, so
    it empties an invisible placeholder now and then: a stop (the tab was
    closed, the session ended) or a rerun then takes effect within that time,
    and the job is stopped with it (see :func:`run_with_events`).
    """
    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    import streamlit as st

    placeholder = st.empty()
    return placeholder.empty


def waiting_text(ahead: int) -> str:
    """What a waiting session's progress widget says."""
    if ahead <= 0:
        return "Waiting: yours is next (other visitors' jobs are using the server)"
    return f"Waiting: {ahead} job{'s' if ahead != 1 else ''} ahead of yours"


class _Turn:
    """One slot of the pool, held by one session (or, without a session, by one job)."""

    def __init__(self, owner, now: float):
        self.owner = owner
        self.holders = 0
        self.started = now
        self.idle_since: float | None = None


class Lease:
    """A held share of a slot of a :class:`JobPool`; given back with :meth:`release`.

    The script thread that waited for the slot holds it, and so does the worker
    thread it starts: the slot stays taken until the work is really over, even
    when the script thread is interrupted (a rerun) while the worker finishes.
    """

    def __init__(self, pool: "JobPool", turn: _Turn):
        self._pool = pool
        self._turn = turn
        self._holders = 1
        self._lock = threading.Lock()

    @property
    def owner(self):
        return self._turn.owner

    def retain(self) -> "Lease":
        with self._lock:
            if self._holders <= 0:
                raise RuntimeError("this lease has already been given back")
            self._holders += 1
        return self

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            last = self._holders == 0
        if last:
            self._pool._give_back(self._turn)


class JobPool:
    """At most ``workers`` sessions compute at once; the others wait in line, first come first served.

    A slot is a session's *turn*: every job of the session that holds it (its
    page's steps, its background prefetch, a worker thread) runs in it without
    queueing again, and the turn is kept ``follow_up_s`` after its last job
    ends for the page's next step. So the Results page's scores, files and ZIP
    run one after another instead of each queueing behind every other
    session's, and sessions finish in turn rather than all at the end; a
    session's background work never waits behind the session's own page
    either (no deadlock). A turn is not prolonged past ``max_turn_s`` once its
    jobs are over. Jobs without a session (``owner=None``) each take a turn of
    their own.

    Parameters
    ----------
    workers : int
        How many turns may be held at the same time (at least 1).
    follow_up_s, max_turn_s : float
        See above.
    """

    def __init__(self, workers: int, follow_up_s: float = 0.5, max_turn_s: float = 60.0):
        if int(workers) < 1:
            raise ValueError("a job pool needs at least one worker")
        self.workers = int(workers)
        self.follow_up_s = float(follow_up_s)
        self.max_turn_s = float(max_turn_s)
        self._cond = threading.Condition()
        self._line: collections.deque[int] = collections.deque()  # tickets waiting, oldest first
        self._tickets = itertools.count()
        self._turns: dict = {}  # owner (or a private key for owner None) -> _Turn
        self._peak = 0

    # --- what tests and the benchmark look at ---
    @property
    def running(self) -> int:
        """Turns with a job under way."""
        with self._cond:
            return sum(1 for t in self._turns.values() if t.holders > 0)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    @property
    def peak_running(self) -> int:
        with self._cond:
            return self._peak

    def _reap(self, now: float) -> None:
        for key, turn in list(self._turns.items()):
            if turn.holders == 0 and (
                turn.idle_since is None
                or now - turn.idle_since > self.follow_up_s
                or now - turn.started > self.max_turn_s
            ):
                del self._turns[key]

    def _join(self, owner, now: float) -> _Turn | None:
        """The owner's turn, if it has one that a new job may share."""
        turn = self._turns.get(owner) if owner is not None else None
        if turn is None or (turn.holders == 0 and now - turn.started > self.max_turn_s):
            return None
        turn.holders += 1
        turn.idle_since = None
        return turn

    def acquire(self, on_wait: Callable[[int], None] | None = None, poll: float = 0.1, owner=None) -> Lease:
        """Wait for a slot (or share the owner's turn); return its :class:`Lease`.

        ``on_wait(ahead)`` is called on this thread when the caller has to wait
        and again whenever the number of jobs ahead of it changes (at most
        every ``poll`` seconds). An exception it raises (a Streamlit rerun, for
        example) takes the caller out of the line and propagates. ``owner`` is
        the session's id (see the class).
        """
        with self._cond:
            now = time.monotonic()
            self._reap(now)
            turn = self._join(owner, now)
            if turn is not None:
                return Lease(self, turn)
            ticket = next(self._tickets)
            self._line.append(ticket)
            told = None
            try:
                while True:
                    now = time.monotonic()
                    self._reap(now)
                    turn = self._join(owner, now)  # the session got a turn meanwhile (its page, its prefetch)
                    if turn is not None:
                        self._line.remove(ticket)
                        self._cond.notify_all()
                        return Lease(self, turn)
                    ahead = self._line.index(ticket)
                    if ahead == 0 and len(self._turns) < self.workers:
                        self._line.popleft()
                        turn = _Turn(owner, now)
                        turn.holders = 1
                        self._turns[owner if owner is not None else object()] = turn
                        self._peak = max(self._peak, len(self._turns))
                        # The next in line may also fit (several slots freed at once).
                        self._cond.notify_all()
                        return Lease(self, turn)
                    if on_wait is not None and ahead != told:
                        told = ahead
                        self._cond.release()
                        try:
                            on_wait(ahead)
                        finally:
                            self._cond.acquire()
                        continue  # the line may have moved while this thread drew
                    self._cond.wait(poll)
            except BaseException:
                with contextlib.suppress(ValueError):
                    self._line.remove(ticket)
                self._cond.notify_all()
                raise

    def _give_back(self, turn: _Turn) -> None:
        with self._cond:
            turn.holders -= 1
            if turn.holders == 0:
                turn.idle_since = time.monotonic()
                if turn.owner is None or self.follow_up_s <= 0:  # no follow-ups without a session
                    for key in [k for k, t in self._turns.items() if t is turn]:
                        del self._turns[key]
            self._cond.notify_all()

    @contextlib.contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None, owner=None) -> Iterator[Lease]:
        """``with pool.slot(): ...`` — the block runs while holding a slot (nested blocks reuse it)."""
        held = getattr(_held, "lease", None)
        if held is not None:
            held.retain()
            try:
                yield held
            finally:
                held.release()
            return
        lease = self.acquire(on_wait, owner=owner if owner is not None else current_owner())
        _held.lease = lease
        try:
            yield lease
        finally:
            _held.lease = None
            lease.release()


def current_owner():
    """The Streamlit session this thread works for (``None`` outside a script run)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


_held = threading.local()  # the lease the current thread holds, if any (nested jobs reuse it)
_pool: JobPool | None = None
_pool_lock = threading.Lock()


def pool() -> JobPool:
    """The process-wide pool (created on first use with :func:`default_workers` slots)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = JobPool(default_workers())
            log.info("vsep job pool: %d worker(s)", _pool.workers)
        return _pool


_remote: Remote | None = None
_remote_lock = threading.Lock()


def remote() -> Remote | None:
    """The process's connection to the Dask scheduler named by ``VSEP_DASK_SCHEDULER``; ``None`` to run locally.

    Connects on first use (and again after a failure, or when the address changes).

    Raises
    ------
    VsepError
        When the address is not ``tls://``, ``VSEP_DASK_CERTS`` does not name the certificates, or the
        scheduler cannot be reached (the page shows the message; nothing runs locally behind the operator's
        back).
    """
    global _remote
    address = scheduler_address()
    with _remote_lock:
        if address is None:
            return None
        if _remote is None or _remote.address != address or _remote.client.status not in ("running", "connecting"):
            _drop_remote()  # a failed connection below leaves none
            _remote = Remote(address)
            log.info("vsep jobs go to the Dask cluster at %s (%s)", address, SCHEDULER_ENV)
        return _remote


def close_remote() -> None:
    """Close the connection to the Dask scheduler, if any (the next :func:`remote` connects again)."""
    with _remote_lock:
        _drop_remote()


def _drop_remote() -> None:
    """Close and forget the connection (the caller holds ``_remote_lock``)."""
    global _remote
    if _remote is not None:
        with contextlib.suppress(Exception):
            _remote.close()
    _remote = None


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim`` (``None`` where the C library has none: musl, macOS, Windows)."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_trim_wanted = threading.Event()
_trimmer_lock = threading.Lock()
_trimmer: threading.Thread | None = None


def _trim_when_asked(trim) -> None:
    while True:
        _trim_wanted.wait()
        _trim_wanted.clear()
        trim(0)


def give_back_freed_memory() -> None:
    """Have the C heap return its freed pages to the system (glibc's ``malloc_trim``), soon, on a thread of its own.

    Each job runs on a thread of its own, and glibc gives threads heaps (arenas) of their own that keep what was
    freed in them: a whole song's scoring left hundreds of MB resident that nothing used (BENCHMARKS.md, issue
    #19). ``malloc_trim(0)`` hands those pages back (every arena's). It runs on one background thread, so no
    job's caller waits for it, and requests that come while it runs are served by one more trim. Nothing happens
    where the C library has no ``malloc_trim``.
    """
    global _trimmer
    trim = _malloc_trim()
    if trim is None:
        return
    with _trimmer_lock:
        if _trimmer is None:
            _trimmer = threading.Thread(target=_trim_when_asked, args=(trim,), name="vsep-trim", daemon=True)
            _trimmer.start()
    _trim_wanted.set()


def _run_on_thread(
    job: Callable, emit: Callable, lease: Lease | None, box: dict, release: Callable[[], None] | None = None
) -> threading.Thread:
    release = release or (lease.release if lease is not None else None)

    def target() -> None:
        _held.lease = lease
        try:
            box["result"] = job(emit)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, never to the process
            box["error"] = exc
            if isinstance(exc, JobStopped):  # for the operator: which jobs the budget or a closed tab ended
                log.warning("vsep job stopped: %s", type(exc).__name__)
        finally:
            _held.lease = None
            if release is not None:
                release()
            give_back_freed_memory()

    return threading.Thread(target=target, name="vsep-job", daemon=True)


def run_with_events(
    job: Callable,
    on_events: Callable[[list, float, bool], None],
    *,
    interval: float = 0.25,
    poll: float = 0.02,
    job_pool: JobPool | None = None,
    time_limit_s: float | None = None,
    checkpoint: Callable[[], None] | None = None,
    check_every: float = 0.5,
    on_wait: Callable[[int], None] | None = None,
):
    """Call ``job(emit)`` in a slot of the pool on a worker thread; pass what it emits to ``on_events`` here.

    Parameters
    ----------
    job : callable(emit) -> result
        ``emit(event)`` may be called from the worker with any object. It is
        also where the job is stopped: once the caller stopped waiting or the
        time budget is spent, ``emit`` raises :class:`JobStopped` (so pass it
        on to the engine's progress callbacks).
    on_events : callable(events, elapsed_s, done)
        Called on this (the script's) thread with the events gathered since
        the last call, at most every ``interval`` seconds, and once more when
        the job is done (``done=True``). While the job waits for a slot, it is
        called with ``[("progress", 0.0, "Waiting: 3 jobs ahead of yours")]``
        each time its place in the line changes, so a page's progress bar shows
        the place without any code of its own (unless ``on_wait`` is given).
        Every call that draws sends the browser an update, which costs it tens
        of milliseconds: keep them few.
    job_pool : JobPool, optional
        The pool to queue in (default: the process-wide :func:`pool`).
    time_limit_s : float, optional
        The job's time budget once it runs (default :func:`job_time_limit_s`).
        Over it, the job stops at its next progress report and this raises
        :class:`JobTimeLimit`; a job that reports nothing is given up a second
        later (its slot is freed, the thread stops at its next report).
    checkpoint : callable, optional
        Called on this thread every ``check_every`` seconds while waiting (by
        default, in a Streamlit script run, an invisible placeholder is emptied:
        the point where Streamlit stops a script whose tab was closed).

    When this thread stops waiting before the job is done (an exception from
    ``on_events`` or ``checkpoint``: Streamlit stopping the script of a closed
    tab or an ended session, or a rerun), the job is stopped too and its slot is
    given back at once, so the next visitor in line starts.

    Returns
    -------
    The job's result; an exception it raised is raised here (in the caller's
    session only).
    """
    job_pool = job_pool or pool()
    start = time.perf_counter()

    def waiting(ahead: int) -> None:
        if on_wait is not None:
            on_wait(ahead)
        else:
            on_events([("progress", 0.0, waiting_text(ahead))], time.perf_counter() - start, False)

    held = getattr(_held, "lease", None)
    nested = held is not None
    lease = held.retain() if nested else job_pool.acquire(waiting, owner=current_owner())
    control = JobControl(job_time_limit_s() if time_limit_s is None else time_limit_s)
    events: queue.SimpleQueue = queue.SimpleQueue()

    def emit(event) -> None:
        control.check()
        events.put(event)

    box: dict = {}
    release = _once(lease.release)
    try:
        worker = _run_on_thread(job, emit, lease, box, release)
        worker.start()
    except BaseException:
        release()
        raise
    if checkpoint is None and not nested:
        checkpoint = _streamlit_checkpoint()
    last = checked = start
    pending: list = []
    finished = False
    try:
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
            if checkpoint is not None and now - checked >= check_every:
                checkpoint()
                checked = now
            if control.overdue(grace_s=1.0):  # the job has not reported since its budget ran out
                control.stop(lambda: JobTimeLimit(control.limit_s))
                raise JobTimeLimit(control.limit_s)
        finished = True
    finally:
        if not finished:  # this thread stopped waiting: nobody will use the result
            control.stop(JobAbandoned)
            release()
            log.warning("vsep job slot given back: its page stopped waiting")
    if "error" in box:
        raise box["error"]
    return box["result"]


def run(job: Callable[[], object], on_wait: Callable[[int], None] | None = None, *, job_pool: JobPool | None = None):
    """Call ``job()`` in a slot of the pool on a worker thread; its result (its exception is raised here).

    For heavy steps that report no progress (the Results page's reconstruction,
    the ZIP). ``on_wait(ahead)`` is called while waiting, e.g. to write
    :func:`waiting_text` into a placeholder. This thread waits as in
    :func:`run_with_events`: when its page stops waiting (a closed tab, an ended
    session), the slot is given back within a second, though a job that reports
    nothing finishes its current step on its worker thread.
    """
    return run_with_events(lambda emit: job(), lambda events, elapsed, done: None, on_wait=on_wait, job_pool=job_pool)


class PrefetchTicket:
    """What a session holds of its prefetch (in its state): the prefetch goes on only while the ticket lives.

    The prefetch's thread keeps only a weak reference to it, so when the session ends (Streamlit drops its
    state), loads another pair (the slot is cleared) or starts a newer prefetch in the same slot
    (:attr:`cancelled`), the work stops before its next item and its slot of the pool is given back.
    """

    cancelled = False


def prefetch_work(
    items: list[tuple[str, Callable[[], object]]],
    done: dict,
    place: dict,
    owner,
    ticket: "weakref.ref[PrefetchTicket]",
    job_pool: JobPool | None = None,
) -> None:
    """The body of :func:`prefetch`'s thread: each item in turn in one slot of the pool while the ticket lives."""

    def wanted() -> bool:
        held = ticket()
        return held is not None and not held.cancelled

    def on_wait(ahead: int) -> None:
        if not wanted():
            raise JobAbandoned()  # leaves the line
        place.update(ahead=ahead)

    try:
        with (job_pool or pool()).slot(on_wait, owner=owner):
            place["ahead"] = None
            for name, work in items:
                if not wanted():
                    break
                try:
                    work()
                except Exception:  # noqa: BLE001 - the page reports it when it computes the same thing
                    pass
                finally:
                    done[name].set()
    except JobAbandoned:
        pass
    finally:
        place["ahead"] = None
        for event in done.values():
            event.set()


def prefetch(key: str, slot: str, items: list[tuple[str, Callable[[], object]]]) -> None:
    """Run ``items`` (name, work) one after another on a background thread, once per ``key``.

    Used to compute what the next page will show (the slice views, the
    results) while the user is still reading this one. The work takes a slot
    of the pool like any other job (eight visitors loading pairs at once must
    not start eight view computations). The session's ``slot`` remembers
    ``(key, {name: threading.Event}, place, ticket)``: :func:`wait_for_prefetch`
    waits for just the item a page needs (the page never computes it a second
    time in parallel), ``place["ahead"]`` is the number of jobs ahead of this
    one while it waits for a slot (``None`` once it runs), and the
    :class:`PrefetchTicket` ends the work with the session (or when replaced).
    Errors are left for the page to meet and report when it computes the same
    thing. The thread calls no Streamlit (the session it works for is captured
    here, on the script thread).
    """
    import streamlit as st

    current = st.session_state.get(slot)
    if current is not None and current[0] == key:
        return
    if current is not None and len(current) > 3:
        current[3].cancelled = True  # a newer prefetch replaces it
    done = {name: threading.Event() for name, _ in items}
    place: dict = {"ahead": None}
    ticket = PrefetchTicket()
    worker = threading.Thread(
        target=prefetch_work,
        args=(items, done, place, current_owner(), weakref.ref(ticket)),
        name="vsep-prefetch",
        daemon=True,
    )
    st.session_state[slot] = (key, done, place, ticket)
    worker.start()


def wait_for_item(
    done: threading.Event,
    place: dict | None = None,
    on_wait: Callable[[int], None] | None = None,
    timeout: float = 300.0,
    poll: float = 0.1,
) -> bool:
    """Wait for a prefetch item's event; while its job waits for a slot, ``on_wait(ahead)`` at each change.

    Returns whether the item is done (``False`` after ``timeout``).
    """
    deadline = time.monotonic() + timeout
    told = None
    while not done.wait(poll):
        ahead = None if place is None else place.get("ahead")
        if on_wait is not None and ahead is not None and ahead != told:
            told = ahead
            on_wait(ahead)
        if time.monotonic() > deadline:
            return False
    return True


def wait_for_prefetch(key: str, slot: str, name: str, timeout: float = 120.0) -> None:
    """Wait for item ``name`` of the session's prefetch for ``key``, if one is under way (spinner, queue place)."""
    import streamlit as st

    current = st.session_state.get(slot)
    if current is not None and current[0] == key and name in current[1] and not current[1][name].is_set():
        place = current[2] if len(current) > 2 else None
        with st.spinner("Preparing the views…"):
            note = st.empty()
            wait_for_item(current[1][name], place, lambda ahead: note.caption(waiting_text(ahead)), timeout)
            note.empty()
