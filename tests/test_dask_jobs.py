"""The dashboard's heavy jobs on a real Dask cluster (scheduler and worker in other processes).

With ``VSEP_DASK_SCHEDULER`` set, Optimise's runs, the greedy search, the joint
matching, the attribution and Results' scores are computed by the cluster's
worker, and the pages show the same numbers as when they are computed here.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import pytest
from cluster_support import closed_cluster, security
from streamlit.testing.v1 import AppTest

from vsep_app import memo
from vsep_core import cluster
from vsep_core.audio import prepare_pair
from vsep_core.errors import VsepError
from vsep_core.evaluate import evaluate_experiment
from vsep_core.experiment import run_experiment
from vsep_core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 180
#: Every test here starts a Dask scheduler and worker as separate processes.
pytestmark = pytest.mark.slow


def _sample_folder() -> Path:
    import json

    pairs = json.loads((REPO / "sample_audio" / "pairs.json").read_text())
    entry = (pairs["pairs"] if isinstance(pairs, dict) else pairs)[0]
    return REPO / "sample_audio" / entry["folder"]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A closed cluster (TLS with the cluster's certificates) started as docs/SERVING.md says: a scheduler
    and one worker (1 thread) as separate processes; ``(address, certificates folder)``."""
    with closed_cluster(tmp_path_factory.mktemp("dask")) as (address, certs, _):
        yield address, certs


@pytest.fixture
def cluster_env(dask_cluster, monkeypatch):
    """The dashboard's environment pointing at the closed cluster; its address."""
    address, certs = dask_cluster
    monkeypatch.setenv(cluster.SCHEDULER_ENV, address)
    monkeypatch.setenv(cluster.CERTS_ENV, str(certs))
    return address


@contextlib.contextmanager
def _tasks_on_worker(dask_cluster):
    """The names of the vsep tasks the cluster ran while the block ran (from the scheduler's task stream)."""
    from distributed import Client, get_task_stream

    address, certs = dask_cluster
    names: list[str] = []
    with Client(address, security=security(certs), timeout="30s", set_as_default=False) as client:
        with get_task_stream(client) as stream:
            yield names
        names.extend(str(t["key"]).split("-")[1] for t in stream.data if str(t["key"]).startswith("vsep-"))


def test_scheduler_address_comes_from_the_environment():
    assert cluster.scheduler_address({}) is None
    assert cluster.scheduler_address({cluster.SCHEDULER_ENV: "  "}) is None
    assert cluster.scheduler_address({cluster.SCHEDULER_ENV: "tls://10.0.0.5:8786"}) == "tls://10.0.0.5:8786"


def test_an_unreachable_scheduler_is_one_message(monkeypatch, dask_cluster):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(VsepError, match="Cannot reach the Dask scheduler at 'tls://127.0.0.1:9'"):
        cluster.connect("tls://127.0.0.1:9", {cluster.CERTS_ENV: str(dask_cluster[1])})


def test_a_task_on_the_cluster_equals_the_local_call_and_relays_progress(dask_cluster):
    settings = Settings()
    folder = _sample_folder()
    pair = prepare_pair(folder / "mixture.wav", vocal=folder / "vocal.wav", settings=settings)
    local = run_experiment(pair, settings, max_slices=4, greedy=False)
    events = []
    remote = cluster.Remote(dask_cluster[0], {cluster.CERTS_ENV: str(dask_cluster[1])})
    try:
        with _tasks_on_worker(dask_cluster) as done:
            result = remote.call(
                "run_experiment", (pair, settings), dict(max_slices=4, greedy=False), emit=events.append
            )
        assert remote.workers() and len(remote.workers()) == 1
    finally:
        remote.close()
    assert [r.final_loss for r in result.progressive] == [r.final_loss for r in local.progressive]
    for mine, theirs in zip(result.progressive, local.progressive):
        np.testing.assert_array_equal(mine.estimate.vocal_raw, theirs.estimate.vocal_raw)
    runs = [e for e in events if e[0] == "run"]
    assert [e[2].n for e in runs] == [1, 2, 3, 4]  # each finished run reached this process as it finished
    np.testing.assert_allclose(runs[-1][2].loss_curve, local.progressive[-1].loss_curve)
    assert done == ["run_experiment"]


def test_an_error_inside_a_task_comes_back_to_the_caller(dask_cluster):
    remote = cluster.Remote(dask_cluster[0], {cluster.CERTS_ENV: str(dask_cluster[1])})
    try:
        with pytest.raises(Exception, match="slice"):
            remote.call("run_experiment", (None, Settings()), dict(order=["no_such_slice"], max_slices=1))
    finally:
        remote.close()


def _assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_the_dashboard_runs_its_jobs_on_the_cluster_end_to_end(dask_cluster, cluster_env):
    """Optimise (run both) and Results with the scheduler named: the worker computes, the page shows the
    engine's numbers."""
    from vsep_app import jobs

    memo.clear_all()  # earlier tests in this process may have computed the same pair and settings
    with _tasks_on_worker(dask_cluster) as done:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=RUN_TIMEOUT)
        at.run()
        _assert_clean(at)
        at.switch_page("app_pages/optimise.py").run()
        at.slider(key="opt_n").set_value(3).run()
        at.button(key="run_both").click().run(timeout=RUN_TIMEOUT)
        _assert_clean(at)
        at.switch_page("app_pages/results.py").run(timeout=RUN_TIMEOUT)
        _assert_clean(at)
    # The runs, the search and the scores were this worker's tasks (the cache was empty for this pair and N).
    assert {"run_experiment", "greedy", "evaluate_experiment"} <= set(done), done
    assert jobs.remote() is not None and jobs.remote().address == cluster_env
    jobs.close_remote()

    settings = at.session_state["vsep_settings"]
    folder = _sample_folder()
    pair = prepare_pair(folder / "mixture.wav", vocal=folder / "vocal.wav", settings=settings)
    expected = run_experiment(pair, settings, max_slices=3, greedy=True)
    prog, greedy = at.session_state["vsep_progressive"], at.session_state["vsep_greedy"]
    assert [r.final_loss for r in prog.outcome.runs] == [r.final_loss for r in expected.progressive]
    assert greedy.outcome.greedy.sequence == expected.greedy.sequence
    np.testing.assert_array_equal(greedy.outcome.greedy_run.estimate.vocal_raw, expected.greedy_run.estimate.vocal_raw)
    truth = prepare_pair(folder / "mixture.wav", vocal=folder / "vocal.wav", settings=settings.replace(level="as_is"))
    table = at.dataframe[0].value
    scored = evaluate_experiment(expected, truth)
    by_name = {m["name"]: m for m in scored["methods"]}
    rows = {row["method"]: row for row in table.to_dict("records")}
    common = set(rows) & set(by_name)
    assert len(common) >= 4, (sorted(rows), sorted(by_name))
    for name in common:
        if by_name[name]["vocal"]["si_sdr"] is not None:
            assert rows[name]["vocal SI-SDR"] == pytest.approx(by_name[name]["vocal"]["si_sdr"], abs=1e-6), name


def test_an_unreachable_cluster_is_a_message_on_the_page(monkeypatch, dask_cluster):
    monkeypatch.setenv(cluster.SCHEDULER_ENV, "tls://127.0.0.1:9")
    monkeypatch.setenv(cluster.CERTS_ENV, str(dask_cluster[1]))
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=RUN_TIMEOUT)
    at.run()
    at.switch_page("app_pages/optimise.py").run()
    at.slider(key="opt_n").set_value(2).run()
    at.button(key="run_progressive").click().run(timeout=RUN_TIMEOUT)
    assert not at.exception
    assert any("Cannot reach the Dask scheduler" in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.browser
@pytest.mark.usefixtures("require_browser")
def test_a_real_server_in_chromium_sends_its_jobs_to_the_cluster(dask_cluster, tmp_path):
    """``streamlit run`` with VSEP_DASK_SCHEDULER, a visitor in Chromium presses Run both and opens Results:
    the worker process computed the runs, the search and the scores; the page shows them."""
    from browser_support import Server, block_outside_requests, launch, nav, run_count, wait_for_run, wait_js
    from playwright.sync_api import sync_playwright

    address, certs = dask_cluster
    with (
        _tasks_on_worker(dask_cluster) as done,
        Server(
            log_path=tmp_path / "streamlit.log", env={cluster.SCHEDULER_ENV: address, cluster.CERTS_ENV: str(certs)}
        ) as server,
        sync_playwright() as p,
    ):
        browser = launch(p)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            outside = block_outside_requests(context)
            page = context.new_page()
            page.goto(server.url)
            wait_for_run(page, 0, 90, also="document.body.innerText.includes('Loaded:')")
            count = run_count(page)
            nav(page, "Optimise")
            wait_for_run(page, count, 90)
            count = run_count(page)
            page.get_by_role("button", name="Run both").click()
            wait_for_run(
                page,
                count,
                180,
                also="document.body.innerText.includes('Greedy search done') && "
                "document.body.innerText.includes('Progressive test done')",
            )
            count = run_count(page)
            nav(page, "Results")
            wait_js(page, "document.body.innerText.includes('SI-SDR')", 180, what="the Results page's scores")
            wait_for_run(page, count, 180)
            text = page.inner_text("body")
            assert "unexpected problem" not in text and "Cannot reach" not in text
            assert not outside
        finally:
            browser.close()
        assert server.alive()
    assert {"run_experiment", "greedy", "evaluate_experiment"} <= set(done), done


def test_batch_takes_the_dashboards_cluster_from_the_environment(cluster_env, tmp_path, capsys):
    """``batch`` without ``--scheduler`` uses ``VSEP_DASK_SCHEDULER`` (the dashboard's cluster) when it is set."""
    import shutil

    from vsep_core.cli import main

    song = tmp_path / "songs" / "pop"
    song.mkdir(parents=True)
    for name in ("mixture.wav", "vocal.wav"):
        shutil.copy(_sample_folder() / name, song / name)
    code = main(["batch", str(tmp_path / "songs"), "--methods", "mixture", "--quiet", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"the Dask cluster at {cluster_env}" in out


def test_a_job_that_waits_for_a_busy_worker_says_so(dask_cluster):
    """The cluster's only worker thread is busy (a 3 s sleep): the job reports that it waits, then runs."""
    settings = Settings()
    folder = _sample_folder()
    pair = prepare_pair(folder / "mixture.wav", vocal=folder / "vocal.wav", settings=settings)
    remote = cluster.Remote(dask_cluster[0], {cluster.CERTS_ENV: str(dask_cluster[1])})
    try:
        busy = remote.client.submit(time.sleep, 3, pure=False)
        deadline = time.monotonic() + 30
        while not any(busy.key in keys for keys in remote.client.processing().values()):
            assert time.monotonic() < deadline, "the sleep never started"
            time.sleep(0.05)
        events = []
        result = remote.call("run_experiment", (pair, settings), dict(max_slices=1, greedy=False), emit=events.append)
        busy.release()
    finally:
        remote.close()
    waits = [e for e in events if e[0] == "progress" and "Waiting for a Dask worker" in e[2]]
    assert len(waits) == 1 and events[0] is waits[0]  # said before the task's own first progress
    assert len(result.progressive) == 1
