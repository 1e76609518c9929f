"""The Dask cluster is closed (issue #17): TLS with mutual authentication, one interface, no HTTP, and the
results it sends are plain data, checked on arrival, never code run here.

A real scheduler and worker run as separate processes, started with ``python -m vsep_core.cluster_setup``
as docs/SERVING.md says (tests/cluster_support.py); the anonymous clients are real connection attempts.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import ssl
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cluster_support import HOST, PYTHON, REPO, closed_cluster, listeners, plain_env, security
from streamlit.testing.v1 import AppTest

from vsep_app import memo
from vsep_core import cluster, cluster_codec
from vsep_core.audio import prepare_pair
from vsep_core.cluster_setup import make_certificates
from vsep_core.errors import VsepError
from vsep_core.experiment import run_experiment
from vsep_core.settings import Settings

EVAL_PAIR = REPO / "tests" / "data" / "speech_brahms_4.7s"


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    """``(address, certs folder, [scheduler process, worker process])`` of a closed cluster on 127.0.0.2."""
    with closed_cluster(tmp_path_factory.mktemp("closed")) as running:
        yield running


@pytest.fixture(scope="module")
def stranger_certs(tmp_path_factory):
    """A CA and certificate made the same way, but not the cluster's: a stranger's."""
    folder = tmp_path_factory.mktemp("stranger") / "certs"
    make_certificates(folder)
    return folder


def _pair():
    settings = Settings()
    return prepare_pair(EVAL_PAIR / "mixture.wav", vocal=EVAL_PAIR / "vocal.wav", settings=settings), settings


def _worker_addresses(address, certs) -> list[str]:
    from distributed import Client

    with Client(address, security=security(certs), timeout="20s", set_as_default=False) as client:
        return sorted(client.scheduler_info()["workers"])


async def _identity(address: str, sec):
    """Ask the Dask server at ``address`` who it is (a real request on its port); raises when refused."""
    from distributed import rpc

    args = sec.get_connection_args("client") if sec is not None else {}
    async with rpc(address, connection_args=args, timeout=5) as remote:
        return await remote.identity()


def _marker_writer(path: str):
    def write_marker():
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        return os.getpid()

    return write_marker


# --- certificates ---------------------------------------------------------------------------------


def test_one_command_makes_the_certificates_and_keeps_no_ca_key(tmp_path):
    from cryptography import x509

    folder = tmp_path / "certs"
    done = subprocess.run(
        [PYTHON, "-m", "vsep_core.cluster_setup", "certs", str(folder)],
        cwd=REPO,
        env=plain_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "can run code" in done.stdout  # it says what the certificate grants
    assert sorted(p.name for p in folder.iterdir()) == ["ca.pem", "node-key.pem", "node.pem"]  # no CA key
    assert folder.stat().st_mode & 0o777 == 0o700 and (folder / "node-key.pem").stat().st_mode & 0o777 == 0o600
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((folder / "node.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # A second run never overwrites the cluster's certificates.
    again = subprocess.run(
        [PYTHON, "-m", "vsep_core.cluster_setup", "certs", str(folder)],
        cwd=REPO,
        env=plain_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and "already holds" in again.stderr and "Traceback" not in again.stderr
    assert (folder / "node.pem").read_bytes() == cert.public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM
    )


def test_the_setup_commands_refuse_every_interface_and_tcp(tmp_path):
    certs = tmp_path / "certs"
    make_certificates(certs)
    for argv, words in [
        (["scheduler", "--host", "0.0.0.0"], "never listens on every interface"),
        (["worker", "tcp://127.0.0.1:8786", "--host", "127.0.0.1"], "is not a TLS address"),
        (["scheduler", "--host", "127.0.0.1", "--certs", str(tmp_path / "none")], "has no ca.pem"),
    ]:
        done = subprocess.run(
            [
                PYTHON,
                "-m",
                "vsep_core.cluster_setup",
                *argv,
                *(["--certs", str(certs)] if "--certs" not in argv else []),
            ],
            cwd=REPO,
            env=plain_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and words in done.stderr, (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1


# --- nobody without the certificate gets in ---------------------------------------------------------


def test_a_client_with_the_certificate_gets_in(closed, tmp_path):
    """The positive control of the refusals below: the same requests with the cluster's certificate work."""
    from distributed import Client

    address, certs, _ = closed
    marker = tmp_path / "ran"
    with Client(address, security=security(certs), timeout="20s", set_as_default=False) as client:
        pids = client.run(_marker_writer(str(marker)))
    assert len(pids) == 1 and marker.read_text().split() == [str(p) for p in pids.values()]
    for target in [address, *_worker_addresses(address, certs)]:
        assert asyncio.run(_identity(target, security(certs)))["type"] in ("Scheduler", "Worker")


@pytest.mark.parametrize("who", ["plain tcp", "TLS without a certificate", "a stranger's certificate"])
def test_an_anonymous_client_is_refused_by_the_scheduler_and_every_worker(closed, stranger_certs, tmp_path, who):
    """Client(...).run(f) and a direct request to each worker's port: refused, and f never runs."""
    from distributed import Client

    address, certs, _ = closed
    marker = tmp_path / "ran"
    targets = [address, *_worker_addresses(address, certs)]
    assert len(targets) == 2
    for target in targets:
        host_port = target.removeprefix("tls://")
        if who == "plain tcp":
            with pytest.raises((OSError, TimeoutError)):
                with Client(f"tcp://{host_port}", timeout="4s", set_as_default=False) as client:
                    client.run(_marker_writer(str(marker)))
            with pytest.raises((OSError, TimeoutError)):
                asyncio.run(_identity(f"tcp://{host_port}", None))
        elif who == "a stranger's certificate":
            with pytest.raises((OSError, TimeoutError)):
                with Client(target, security=security(stranger_certs), timeout="4s", set_as_default=False) as client:
                    client.run(_marker_writer(str(marker)))
            with pytest.raises((OSError, TimeoutError)):
                asyncio.run(_identity(target, security(stranger_certs)))
        else:  # the server's certificate is checked, but the client offers none: the server ends the handshake
            context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
            context.check_hostname = False
            host, port = host_port.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as raw:
                with pytest.raises((ssl.SSLError, ConnectionError)):
                    with context.wrap_socket(raw) as tls:
                        tls.sendall(b"\x00" * 64)
                        assert tls.recv(1) != b"", "the server accepted a client without a certificate"
    assert not marker.exists()


def test_a_dashboard_with_a_strangers_certificate_gets_one_message(closed, stranger_certs, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 3.0)
    with pytest.raises(VsepError, match="refused the certificate") as caught:
        cluster.Remote(closed[0], {cluster.CERTS_ENV: str(stranger_certs)})
    assert "\n" not in str(caught.value)


def test_everything_listens_on_the_chosen_interface_only_and_serves_no_http(closed):
    address, _, (scheduler, worker) = closed
    port = int(address.rsplit(":", 1)[1])
    scheduler_ports = listeners(scheduler.pid)
    worker_ports = listeners(worker.pid)
    # The scheduler: its one TLS port, nothing else (no dashboard, no HTTP routes). The worker command: the
    # nanny's port and the worker process's port.
    assert [(ip, p) for _, ip, p in scheduler_ports] == [(HOST, port)], scheduler_ports
    assert len(worker_ports) == 2 and {ip for _, ip, _ in worker_ports} == {HOST}, worker_ports
    # Dask's dashboard port (8787 by default) is not among them (other programs on this machine may use it).
    assert all(p != 8787 for _, _, p in scheduler_ports + worker_ports)
    for _, ip, p in scheduler_ports + worker_ports:  # every port speaks TLS only: no HTTP answer
        with socket.create_connection((ip, p), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            try:
                reply = s.recv(64)
            except (TimeoutError, ConnectionError):
                reply = b""
            assert not reply.startswith(b"HTTP/"), (ip, p, reply)


# --- the dashboard and batch refuse an open cluster -------------------------------------------------


def test_the_dashboard_refuses_an_unauthenticated_scheduler_address(monkeypatch, tmp_path):
    cases = [
        ({"VSEP_DASK_SCHEDULER": "tcp://127.0.0.1:8786"}, "is not a TLS address"),
        ({"VSEP_DASK_SCHEDULER": "tls://127.0.0.1:8786"}, "VSEP_DASK_CERTS is not set"),
        ({"VSEP_DASK_SCHEDULER": "tls://127.0.0.1:8786", "VSEP_DASK_CERTS": str(tmp_path)}, "has no ca.pem"),
    ]
    for env, words in cases:
        # Another test in this process may have cached these very runs (the same sample and settings), and a
        # cached result never asks the cluster: start from empty caches.
        memo.clear_all()
        monkeypatch.delenv(cluster.CERTS_ENV, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("app_pages/optimise.py").run()
        at.slider(key="opt_n").set_value(2).run()
        at.button(key="run_progressive").click().run(timeout=120)
        assert not at.exception
        messages = [e.value.replace("\\", "") for e in at.error]  # shown through escape.plain (Markdown escaped)
        assert any(words in m for m in messages), (env, messages)
        assert all("Traceback" not in m for m in messages)


def test_batch_refuses_an_unauthenticated_scheduler_address(tmp_path, capsys, monkeypatch):
    from vsep_core.cli import main

    monkeypatch.delenv(cluster.CERTS_ENV, raising=False)
    song = tmp_path / "songs" / "pop"
    song.mkdir(parents=True)
    for name in ("mixture.wav", "vocal.wav"):
        (song / name).write_bytes((EVAL_PAIR / name).read_bytes())
    code = main(
        [
            "batch",
            str(tmp_path / "songs"),
            "--methods",
            "mixture",
            "--quiet",
            "--scheduler",
            "tcp://127.0.0.1:8786",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "is not a TLS address" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# --- what comes back is plain data, checked -------------------------------------------------------


def test_a_real_job_on_the_closed_cluster_equals_the_local_call(closed):
    address, certs, _ = closed
    pair, settings = _pair()
    local = run_experiment(pair, settings, max_slices=2, greedy=True)
    remote = cluster.Remote(address, {cluster.CERTS_ENV: str(certs)})
    try:
        events = []
        result = remote.call("run_experiment", (pair, settings), dict(max_slices=2, greedy=True), emit=events.append)
    finally:
        remote.close()
    assert type(result) is type(local)
    assert [r.final_loss for r in result.progressive] == [r.final_loss for r in local.progressive]
    assert result.greedy.sequence == local.greedy.sequence and result.greedy.steps == local.greedy.steps
    np.testing.assert_array_equal(result.greedy_run.estimate.vocal_raw, local.greedy_run.estimate.vocal_raw)
    assert result.greedy_run.estimate.vocal_raw.dtype == local.greedy_run.estimate.vocal_raw.dtype
    assert [e[2].n for e in events if e[0] == "run"][:2] == [1, 2]


class _Payload:
    """Unpickling this runs a shell command that writes the unpickling process's id into a file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo $PPID >> {self.marker}",))


def _install_on_workers(address, certs, fake):
    """Replace ``vsep_core.cluster.run_task`` in the workers (what the issue's attacker did, here with the
    certificate: a compromised certificate holder); returns a function that puts the real one back."""
    from distributed import Client

    def install(fn):
        from vsep_core import cluster as worker_cluster

        worker_cluster.__dict__.setdefault("_real_run_task", worker_cluster.run_task)
        worker_cluster.run_task = fn

    def restore():
        from vsep_core import cluster as worker_cluster

        worker_cluster.run_task = worker_cluster.__dict__.pop("_real_run_task", worker_cluster.run_task)

    with Client(address, security=security(certs), timeout="20s", set_as_default=False) as client:
        client.run(install, fake)

    def undo():
        with Client(address, security=security(certs), timeout="20s", set_as_default=False) as client:
            client.run(restore)

    return undo


@pytest.mark.parametrize("kind, words", [("an object", "not plain data"), ("pickled bytes", "not a valid vsep result")])
def test_a_worker_sending_code_instead_of_data_is_refused_on_the_page_and_nothing_runs_here(
    closed, tmp_path, monkeypatch, kind, words
):
    """The issue's end-to-end attack: the workers' vsep task replaced by one that returns an object whose
    unpickling runs a shell command (or the pickle of one, as bytes). A visitor presses Run: the page says the
    result was refused, and the command never runs in this (the dashboard's) process."""
    from vsep_app import jobs

    address, certs, _ = closed
    marker = tmp_path / "pwned"

    def evil_task(name, args, kwargs, queue_name=None):
        import os as os_

        class Payload:  # defined here, so it travels by value to the worker
            def __reduce__(self):
                return (os_.system, (f"echo $PPID >> {marker}",))

        if kind == "an object":
            return Payload()
        return f"cos\nsystem\n(S'echo $PPID >> {marker}'\ntR.".encode()  # a pickle that runs the command

    undo = _install_on_workers(address, certs, evil_task)
    monkeypatch.setenv(cluster.SCHEDULER_ENV, address)
    monkeypatch.setenv(cluster.CERTS_ENV, str(certs))
    memo.clear_all()  # the run must be computed, not found in a cache
    try:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("app_pages/optimise.py").run()
        at.slider(key="opt_n").set_value(2).run()
        at.button(key="run_progressive").click().run(timeout=120)
        assert not at.exception
        messages = [e.value.replace("\\", "") for e in at.error]  # shown through escape.plain (Markdown escaped)
        assert any(words in m for m in messages), messages
    finally:
        jobs.close_remote()
        undo()
    assert not marker.exists(), f"the payload ran in process {marker.read_text()} (this one is {os.getpid()})"


def test_a_tasks_failure_comes_back_as_plain_data(closed):
    address, certs, _ = closed
    remote = cluster.Remote(address, {cluster.CERTS_ENV: str(certs)})
    try:
        with pytest.raises(VsepError, match="Unknown"):
            remote.call("run_experiment", (None, Settings()), dict(order=["no_such_slice"], max_slices=1))
        with pytest.raises(cluster_codec.TaskFailed, match="AttributeError"):
            remote.call("evaluate_experiment", (None, None))
    finally:
        remote.close()


# --- the decoder's allow-list, without a cluster -----------------------------------------------------


def _experiment():
    pair, settings = _pair()
    return run_experiment(pair, settings, max_slices=2, greedy=False)


def test_the_codec_gives_back_an_equal_result():
    result = _experiment()
    blob = cluster_codec.encode(result)
    back = cluster_codec.decode(blob, "run_experiment")
    # The runs share one mixture array here; it travels once and is shared again (memory, not copies).
    first, second = (run.estimate for run in result.progressive)
    assert first.mixture is second.mixture
    assert back.progressive[0].estimate.mixture is back.progressive[1].estimate.mixture
    assert len(blob) < first.mixture.nbytes + 2 * first.vocal_raw.nbytes + 200_000
    assert back.settings == result.settings and back.order == result.order and back.timings_s == result.timings_s
    np.testing.assert_array_equal(back.progressive[0].estimate.vocal_raw, result.progressive[0].estimate.vocal_raw)
    assert back.progressive[0].loss_curve.dtype == result.progressive[0].loss_curve.dtype
    assert back.progressive[0].slices == result.progressive[0].slices  # a tuple stays a tuple


def test_every_tasks_real_result_passes_the_codec_unchanged():
    """Each task of vsep_core.cluster, run here on the evaluation pair, encodes and decodes to an equal
    result: the allow-list accepts everything the engine really sends back."""
    from vsep_core.batch import discover_songs
    from vsep_core.evaluate import evaluation_settings
    from vsep_core.joint import JointSettings
    from vsep_core.learned import ModelConfig
    from vsep_core.learned_songs import folder_songs

    pair, settings = _pair()
    truth = prepare_pair(
        EVAL_PAIR / "mixture.wav", vocal=EVAL_PAIR / "vocal.wav", settings=settings.replace(level="as_is")
    )
    tasks = cluster._tasks()
    joint = JointSettings(steps=3)
    experiment = run_experiment(pair, settings, max_slices=2, greedy=False)
    song = [s for s in discover_songs(EVAL_PAIR.parent) if s.name == EVAL_PAIR.name][0]
    cases = {
        "run_experiment": ((pair, settings), dict(max_slices=2, greedy=True)),
        "greedy": ((pair, settings, ("slice_1_horizontal", "slice_2_vertical")), {}),
        "evaluate_experiment": ((experiment, truth), {}),
        "joint": ((pair, truth, settings, joint), {}),
        "attribute_slices": ((truth, settings), dict(slices=("slice_1_horizontal", "slice_2_vertical"))),
        "attribute_joint": ((truth, settings), dict(slices=("slice_1_horizontal",), joint=joint)),
        "batch_song": ((song, ["mixture", "irm"], evaluation_settings(None)), {}),
        "learned_features": ((folder_songs([EVAL_PAIR.parent], "vocals")[0][0], "vocals", settings, ModelConfig()), {}),
    }
    assert set(cases) == set(cluster.TASKS)

    def same(a, b, where="result"):
        assert type(a) is type(b), where
        if "timings" in where or "seconds" in where or where.startswith("greedy[3]"):  # timings of a second run
            return
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype, where
            np.testing.assert_array_equal(a, b, err_msg=where)
        elif isinstance(a, dict):
            assert list(a) == list(b), where
            for k in a:
                same(a[k], b[k], f"{where}[{k!r}]")
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f"{where}[{i}]")
        elif hasattr(a, "__dataclass_fields__"):
            for name in a.__dataclass_fields__:
                same(getattr(a, name), getattr(b, name), f"{where}.{name}")
        elif isinstance(a, float) and np.isnan(a):
            assert np.isnan(b), where
        else:
            assert a == b, where

    for name, (args, kwargs) in cases.items():
        extra = {} if name in cluster.NO_PROGRESS else {"progress": None}
        result = tasks[name](*args, **kwargs, **extra)
        if name == "batch_song":
            assert "report" in result, result
        same(result, cluster_codec.decode(cluster_codec.encode(result), name), name)
        # And through run_task, as a worker runs it (no queue: no events).
        same(result, cluster_codec.decode(cluster.run_task(name, args, kwargs), name), name)


def _npz(header: dict, **arrays) -> bytes:
    buffer = io.BytesIO()
    text = json.dumps(header).encode()
    np.savez(buffer, header=np.frombuffer(text, dtype=np.uint8), **arrays)
    return buffer.getvalue()


def test_the_codec_refuses_anything_else(tmp_path):
    result = _experiment()
    good = cluster_codec.encode(result)
    fmt = cluster_codec.FORMAT
    audio = result.progressive[0].estimate
    nan_audio = np.array(audio.vocal_raw, copy=True)
    nan_audio[3] = np.nan
    estimate_node = {
        "t": "obj",
        "c": "Estimate",
        "f": {"vocal_raw": {"t": "array", "k": "a0"}, "mixture": {"t": "array", "k": "a1"}, "sr": audio.sr},
    }
    object_array = io.BytesIO()
    np.savez(
        object_array,
        header=np.frombuffer(json.dumps({"format": fmt, "value": {"t": "array", "k": "a0"}}).encode(), dtype=np.uint8),
        a0=np.array([_Payload("x")], dtype=object),
    )
    compressed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item.filename, src.read(item.filename))
    cases = {
        "not bytes": ("run_experiment", bytearray(good)),
        "a pickle": ("run_experiment", __import__("pickle").dumps({"x": 1})),
        "another task's result": ("joint", good),
        "an object array": ("evaluate_experiment", object_array.getvalue()),
        "compressed members": ("run_experiment", compressed.getvalue()),
        "a class not allowed": (
            "evaluate_experiment",
            _npz({"format": fmt, "value": {"t": "obj", "c": "Popen", "f": {"args": "touch x"}}}),
        ),
        "a field not allowed": (
            "joint",
            _npz(
                {
                    "format": fmt,
                    "value": {
                        "t": "dict",
                        "v": [["estimate", {**estimate_node, "f": {**estimate_node["f"], "extra": 1}}]],
                    },
                },
                a0=audio.vocal_raw,
                a1=audio.mixture,
            ),
        ),
        "audio that is not finite": (
            "joint",
            _npz(
                {
                    "format": fmt,
                    "value": {
                        "t": "dict",
                        "v": [["result", None], ["scores", {"t": "dict", "v": []}], ["estimate", estimate_node]],
                    },
                },
                a0=nan_audio,
                a1=audio.mixture,
            ),
        ),
        "an unused array": (
            "evaluate_experiment",
            _npz({"format": fmt, "value": {"t": "dict", "v": []}}, a0=np.zeros(3)),
        ),
        "an unknown format": ("evaluate_experiment", _npz({"format": "pickle", "value": None})),
    }
    for why, (task, blob) in cases.items():
        with pytest.raises(VsepError, match="not a valid vsep result") as caught:
            cluster_codec.decode(blob, task)
        assert "\n" not in str(caught.value), why
    assert not Path("x").exists()


def test_relayed_events_are_checked():
    good = cluster._event(["run", "N=1", ["slice_1_horizontal"], 1.5, [2.0, 1.5], [1.5]])
    assert good[0] == "run" and good[2].slices == ("slice_1_horizontal",)
    for bad in [
        ["progress", "0.5", "x"],
        ["progress", float("nan"), "x"],
        ["run", "N=1", [1], 1.0, [], []],
        ["exec", "import os"],
        "progress",
        [],
        ["run", "N", ["a"], 1.0, [float("inf")], [1.0]],
    ]:
        with pytest.raises(VsepError, match="not a vsep event"):
            cluster._event(bad)


def test_batchs_own_local_cluster_is_closed_too():
    """``batch`` without a scheduler starts a local cluster: TLS with throw-away certificates, loopback only,
    no HTTP listener, and a plain-tcp client is refused."""
    import psutil
    from distributed import Client

    from vsep_core.batch import _dask_client

    here_before = {p for _, _, p in listeners(os.getpid(), descendants=False)}
    children_before = {c.pid for c in psutil.Process().children()}  # e.g. the module's closed cluster
    with _dask_client(None, 1) as (client, label):
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:") and "local Dask cluster" in label
        workers = sorted(client.scheduler_info()["workers"])
        assert len(workers) == 1 and workers[0].startswith("tls://127.0.0.1:")
        # This process holds the scheduler and the nanny: their two TLS ports are its only new listeners
        # (the scheduler's HTTP listener is closed); the worker process listens on its TLS port only.
        here = [(ip, p) for _, ip, p in listeners(os.getpid(), descendants=False) if p not in here_before]
        assert len(here) == 2 and {ip for ip, _ in here} == {"127.0.0.1"}, here
        assert int(address.rsplit(":", 1)[1]) in {p for _, p in here}
        children = [c.pid for c in psutil.Process().children() if c.pid not in children_before]
        in_workers = [(ip, p) for pid in children for _, ip, p in listeners(pid)]
        assert in_workers == [("127.0.0.1", int(workers[0].rsplit(":", 1)[1]))], in_workers
        host_port = address.removeprefix("tls://")
        with pytest.raises((OSError, TimeoutError)):
            with Client(f"tcp://{host_port}", timeout="4s", set_as_default=False) as anonymous:
                anonymous.run(os.getpid)
