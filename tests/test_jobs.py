"""The dashboard's job pool (vsep_app.jobs) without a Streamlit server: bounds, order, places, errors."""

from __future__ import annotations

import threading
import time

import pytest

from vsep_app import jobs
from vsep_app.jobs import JobPool, run_with_events


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.005)


class Caller(threading.Thread):
    """One session: calls run_with_events on its own thread and keeps what it saw."""

    def __init__(self, pool: JobPool, job, name: str = ""):
        super().__init__(daemon=True, name=name)
        self.pool, self.job = pool, job
        self.seen: list = []
        self.result = self.error = None

    def run(self) -> None:
        try:
            self.result = run_with_events(
                self.job,
                lambda events, elapsed, done: self.seen.extend(events),
                interval=0.0,
                poll=0.005,
                job_pool=self.pool,
            )
        except BaseException as exc:  # noqa: BLE001 - what the session would see
            self.error = exc

    def texts(self) -> list[str]:
        return [e[2] for e in self.seen if e[0] == "progress"]


def test_default_workers_from_the_environment():
    assert jobs.default_workers({"VSEP_JOB_WORKERS": "3"}) == 3
    default = jobs.default_workers({})
    assert 1 <= default <= jobs.MAX_DEFAULT_WORKERS
    for bad in ("0", "-1", "two", "1.5", ""):
        assert jobs.default_workers({"VSEP_JOB_WORKERS": bad}) == default
    with pytest.raises(ValueError):
        JobPool(0)


def test_waiting_text_says_the_place():
    assert jobs.waiting_text(3) == "Waiting: 3 jobs ahead of yours"
    assert jobs.waiting_text(1) == "Waiting: 1 job ahead of yours"
    assert "next" in jobs.waiting_text(0)


def test_at_most_workers_jobs_run_at_once_and_every_caller_gets_its_own_result():
    pool = JobPool(2)
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def make(i):
        def job(emit):
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            emit(("progress", 0.5, f"job {i} half way"))
            time.sleep(0.05)
            with lock:
                state["now"] -= 1
            return i * 10

        return job

    callers = [Caller(pool, make(i)) for i in range(7)]
    for c in callers:
        c.start()
    for c in callers:
        c.join(30)
    assert [c.result for c in callers] == [i * 10 for i in range(7)]
    assert all(c.error is None for c in callers)
    assert state["peak"] == 2 and pool.peak_running == 2
    assert pool.running == 0 and pool.waiting == 0
    for i, c in enumerate(callers):  # each sees its own job's events, never another's
        assert f"job {i} half way" in c.texts()
        assert not [t for t in c.texts() if t.startswith("job ") and t != f"job {i} half way"]


def hold(pool: JobPool):
    """Take every slot of ``pool`` until the returned event is set."""
    release = threading.Event()
    ready = threading.Barrier(pool.workers + 1)

    def blocker(emit):
        ready.wait(5)
        release.wait(30)

    holders = [Caller(pool, blocker) for _ in range(pool.workers)]
    for h in holders:
        h.start()
    ready.wait(5)
    return release, holders


def test_first_come_first_served_and_each_waiting_session_sees_its_place():
    pool = JobPool(1)
    release, holders = hold(pool)
    order: list[int] = []
    gates = [threading.Event() for _ in range(3)]  # each job runs until the test lets it end
    callers = []
    for i in range(3):
        c = Caller(pool, lambda emit, i=i: (order.append(i), gates[i].wait(10)))
        c.start()
        callers.append(c)
        wait_for(lambda: pool.waiting == i + 1)  # noqa: B023 - called at once, in this iteration  # in line before the next one arrives
    wait_for(lambda: "Waiting: 2 jobs ahead of yours" in callers[2].texts())
    assert "Waiting: 1 job ahead of yours" in callers[1].texts()
    assert callers[0].texts() == [jobs.waiting_text(0)]
    release.set()
    wait_for(lambda: order == [0] and "Waiting: 1 job ahead of yours" in callers[2].texts())
    gates[0].set()
    wait_for(lambda: order == [0, 1] and jobs.waiting_text(0) in callers[2].texts())
    gates[1].set()
    wait_for(lambda: order == [0, 1, 2])
    gates[2].set()
    for c in callers + holders:
        c.join(10)
    # The last one saw its place fall as the line moved, and no place after it started.
    places = [t for t in callers[2].texts() if t.startswith("Waiting")]
    assert places == ["Waiting: 2 jobs ahead of yours", "Waiting: 1 job ahead of yours", jobs.waiting_text(0)]


def test_a_failing_job_raises_in_its_own_caller_only_and_frees_its_slot():
    pool = JobPool(1)

    def bad(emit):
        raise MemoryError("too big for this server")

    failing = Caller(pool, bad)
    fine = Caller(pool, lambda emit: "fine")
    failing.start()
    fine.start()
    failing.join(10)
    fine.join(10)
    assert isinstance(failing.error, MemoryError) and "too big" in str(failing.error)
    assert fine.error is None and fine.result == "fine"
    assert pool.running == 0
    assert run_with_events(lambda emit: 42, lambda *a: None, job_pool=pool) == 42  # the pool still works


def test_a_session_interrupted_while_waiting_leaves_the_line():
    pool = JobPool(1)
    release, holders = hold(pool)

    class Rerun(Exception):
        pass

    def interrupt(events, elapsed, done):
        raise Rerun()  # what Streamlit does to a script thread when the user reruns the page

    with pytest.raises(Rerun):
        run_with_events(lambda emit: "never", interrupt, job_pool=pool)
    assert pool.waiting == 0
    after = Caller(pool, lambda emit: "next")
    after.start()
    wait_for(lambda: pool.waiting == 1)
    release.set()
    after.join(10)
    assert after.result == "next" and jobs.waiting_text(0) in after.texts()


def test_a_job_whose_caller_stops_watching_is_stopped_and_frees_its_slot_at_once():
    pool = JobPool(1)
    reports, stopped = threading.Event(), threading.Event()
    seen = {}

    def job(emit):
        emit(("progress", 0.1, "started"))
        reports.wait(10)  # a long pass: the engine reports again only at its end
        try:
            emit(("progress", 0.5, "next pass"))
        except jobs.JobStopped as exc:
            seen["stop"] = exc
            stopped.set()
            raise
        return "finished anyway"

    def stop_watching(events, elapsed, done):
        if events:
            raise KeyboardInterrupt  # what Streamlit raises in a script thread whose tab was closed (StopException)

    with pytest.raises(KeyboardInterrupt):
        run_with_events(job, stop_watching, interval=0.0, poll=0.005, job_pool=pool)
    assert pool.running == 0  # the slot is free while the abandoned job is still in its pass
    after = Caller(pool, lambda emit: "next visitor")
    after.start()
    after.join(10)
    assert after.result == "next visitor"
    reports.set()
    assert stopped.wait(10) and isinstance(seen["stop"], jobs.JobAbandoned)


def test_a_checkpoint_that_raises_stops_the_job_even_when_it_reports_nothing():
    pool = JobPool(1)
    calls = []

    def checkpoint():
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise KeyboardInterrupt  # Streamlit stopping the script at its yield point

    release = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        run_with_events(
            lambda emit: release.wait(10),
            lambda *a: None,
            poll=0.005,
            job_pool=pool,
            checkpoint=checkpoint,
            check_every=0.01,
        )
    assert len(calls) == 2 and pool.running == 0
    release.set()


def test_a_job_over_its_time_budget_stops_with_a_message_naming_the_setting():
    pool = JobPool(1)

    def reporting(emit):
        while True:
            emit(("progress", 0.0, "a step"))
            time.sleep(0.01)

    caller_errors = []
    for job in (reporting, lambda emit: time.sleep(3)):  # the second reports nothing: given up a second later
        try:
            run_with_events(job, lambda *a: None, poll=0.005, job_pool=pool, time_limit_s=0.2)
        except jobs.JobTimeLimit as exc:
            caller_errors.append(exc)
        assert pool.running == 0
    assert len(caller_errors) == 2
    assert all(jobs.TIME_LIMIT_ENV in str(e) and "0.2 s" in str(e) for e in caller_errors)


def test_the_time_budget_comes_from_the_environment():
    assert jobs.job_time_limit_s({"VSEP_JOB_TIME_S": "90"}) == 90.0
    for bad in ("0", "-5", "soon", "nan", "inf", ""):
        assert jobs.job_time_limit_s({"VSEP_JOB_TIME_S": bad}) == jobs.DEFAULT_TIME_LIMIT_S


def test_nested_jobs_reuse_the_slot_instead_of_waiting_for_themselves():
    pool = JobPool(1)
    with pool.slot():
        inner = run_with_events(
            lambda emit: run_with_events(lambda e: "inner", lambda *a: None, job_pool=pool),
            lambda *a: None,
            job_pool=pool,
        )
        assert jobs.run(lambda: "plain", job_pool=pool) == "plain"
    assert inner == "inner"
    assert pool.running == 0 and pool.peak_running == 1


def test_run_holds_a_slot_and_reports_the_wait():
    pool = JobPool(1)
    release, holders = hold(pool)
    places: list[int] = []
    out = {}
    t = threading.Thread(target=lambda: out.update(v=jobs.run(lambda: pool.running, places.append, job_pool=pool)))
    t.start()
    wait_for(lambda: places == [0])
    release.set()
    t.join(10)
    assert out["v"] == 1 and pool.running == 0


def test_waiting_for_a_prefetched_item_reports_the_place_of_its_job():
    done, place, seen = threading.Event(), {"ahead": 2}, []

    def later():
        wait_for(lambda: seen == [2])
        place["ahead"] = 1
        wait_for(lambda: seen == [2, 1])
        place["ahead"] = None
        done.set()

    threading.Thread(target=later, daemon=True).start()
    assert jobs.wait_for_item(done, place, seen.append, timeout=10, poll=0.005)
    assert seen == [2, 1]
    assert not jobs.wait_for_item(threading.Event(), {"ahead": None}, seen.append, timeout=0.05, poll=0.01)


def test_a_session_keeps_its_turn_for_its_next_step_and_sessions_finish_in_turn():
    pool = JobPool(1, follow_up_s=0.5)
    order: list[str] = []
    b_in_line = threading.Event()

    def session_a():
        lease = pool.acquire(owner="A")
        order.append("A1")
        b_in_line.wait(5)  # B arrives while A's first step runs
        lease.release()
        time.sleep(0.05)  # the page draws between its steps
        lease = pool.acquire(owner="A")  # A's next step: no queueing behind B
        order.append("A2")
        lease.release()

    def session_b():
        wait_for(lambda: order == ["A1"])
        seen = []
        lease = pool.acquire(seen.append, poll=0.01, owner="B")
        order.append("B1")
        lease.release()
        assert seen == [0]

    a, b = threading.Thread(target=session_a), threading.Thread(target=session_b)
    a.start()
    b.start()
    wait_for(lambda: pool.waiting == 1)
    b_in_line.set()
    a.join(10)
    b.join(10)
    assert order == ["A1", "A2", "B1"]
    wait_for(lambda: pool.running == 0)


def test_a_sessions_background_job_shares_its_turn_instead_of_waiting_behind_it():
    pool = JobPool(1)
    release, holders = hold(pool)  # another visitor's job holds the only slot... until released
    release.set()
    for h in holders:
        h.join(10)
    page = pool.acquire(owner="S")  # the session's page holds the slot and waits for its prefetch:
    got = {}
    t = threading.Thread(target=lambda: got.update(lease=pool.acquire(owner="S")))
    t.start()
    t.join(5)
    assert "lease" in got and not t.is_alive()  # it did not queue behind its own page
    other = Caller(pool, lambda emit: "other")
    other.start()
    wait_for(lambda: pool.waiting == 1)  # another session still waits: one slot, one session
    got["lease"].release()
    page.release()
    other.join(10)
    assert other.result == "other" and pool.peak_running == 1


def test_a_turn_ends_when_its_follow_up_time_is_over():
    pool = JobPool(1, follow_up_s=0.05)
    pool.acquire(owner="A").release()
    start = time.monotonic()
    other = pool.acquire(owner="B")  # waits at most about follow_up_s for A's turn to end
    assert time.monotonic() - start < 2.0
    other.release()


def test_a_prefetch_ends_with_its_ticket_and_gives_its_slot_back():
    """The session's state holds the ticket; when it goes (the session ended, another pair was loaded), the
    prefetch stops before its next item and frees its slot; a prefetch still in line leaves the line."""
    import weakref

    pool = JobPool(1)
    ran, first_started, let_first_finish = [], threading.Event(), threading.Event()

    def first():
        ran.append("first")
        first_started.set()
        let_first_finish.wait(10)

    items = [("first", first), ("second", lambda: ran.append("second"))]
    done = {name: threading.Event() for name, _ in items}
    ticket = jobs.PrefetchTicket()
    worker = threading.Thread(
        target=jobs.prefetch_work, args=(items, done, {"ahead": None}, "S", weakref.ref(ticket), pool)
    )
    worker.start()
    assert first_started.wait(10)
    del ticket  # the session's state is gone
    let_first_finish.set()
    worker.join(10)
    assert ran == ["first"] and all(event.is_set() for event in done.values())
    assert pool.running == 0

    # Waiting in line: a cancelled ticket leaves at the next change of place, having run nothing.
    blocker = pool.acquire(owner="other")
    let_ahead_finish = threading.Event()
    ahead_in_line = Caller(pool, lambda emit: let_ahead_finish.wait(10))
    ahead_in_line.start()
    wait_for(lambda: pool.waiting == 1)
    ticket = jobs.PrefetchTicket()
    place = {"ahead": None}
    done = {"only": threading.Event()}
    worker = threading.Thread(
        target=jobs.prefetch_work,
        args=([("only", lambda: ran.append("only"))], done, place, "S", weakref.ref(ticket), pool),
    )
    worker.start()
    wait_for(lambda: place["ahead"] == 1)
    ticket.cancelled = True  # a newer prefetch took the slot
    blocker.release()  # the line moves: the prefetch notices and leaves, while the job ahead still runs
    worker.join(10)
    assert not worker.is_alive() and "only" not in ran and done["only"].is_set()
    assert pool.waiting == 0 and pool.running == 1
    let_ahead_finish.set()
    ahead_in_line.join(10)


def test_run_gives_the_slot_back_when_its_page_stops_waiting():
    """jobs.run (the steps that report no progress) waits like run_with_events: a page that stops waiting (the
    checkpoint raises, as Streamlit does in a closed tab's script) frees the slot at once."""
    pool = JobPool(1)
    release = threading.Event()
    stop_waiting = threading.Event()

    def checkpoint():
        if stop_waiting.is_set():
            raise KeyboardInterrupt("the tab was closed")

    out: dict = {}

    def page():
        try:
            jobs.run_with_events(
                lambda emit: release.wait(10), lambda *a: None, job_pool=pool, checkpoint=checkpoint, check_every=0.01
            )
        except KeyboardInterrupt as exc:
            out["stopped"] = str(exc)

    t = threading.Thread(target=page)
    t.start()
    wait_for(lambda: pool.running == 1)
    stop_waiting.set()
    t.join(5)
    assert out == {"stopped": "the tab was closed"}
    assert pool.running == 0  # freed although the job itself is still running
    release.set()
    assert jobs.run(lambda: threading.current_thread().name, job_pool=pool) == "vsep-job"  # on a worker thread
