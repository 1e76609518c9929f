"""docs/SERVING.md's commands work as printed (issue #17): every ```bash block, in a plain shell.

Each command is run by bash with only the placeholders the page names replaced (the checkout's path, the
certificates' and batch's folders, the example addresses and the scheduler's port); the environment is
this one without PYTHONPATH or any Dask/vsep cluster variable, and Streamlit gets a free port through
``STREAMLIT_SERVER_PORT`` when a command names none. A command that starts a server (the dashboard, the
scheduler, the workers) runs in the background until it answers; the others must exit 0. Then a real vsep
job goes from the dashboard's code path (``vsep_app.jobs.remote()``, configured as the page's dashboard
command is) to the cluster the page's commands started, and gives the same numbers as locally; the batch
command's results are there; and everything listens on the one address given.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from cluster_support import HOST, free_port, listeners, plain_env, wait_for_workers

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "SERVING.md"
EVAL_PAIR = REPO / "tests" / "data" / "speech_brahms_4.7s"
SERVER_WORDS = ("scripts/dashboard.sh", "streamlit run", "cluster_setup scheduler", "cluster_setup worker")


def bash_commands(text: str) -> list[str]:
    """The commands of every ```bash block, in order: backslash continuations joined, comments and blank
    lines dropped; a ``cd`` line is kept in front of each later command of its block."""
    commands = []
    for block in re.findall(r"^[ \t]*```bash[ \t]*\n(.*?)^[ \t]*```", text, flags=re.S | re.M):
        lines = [line.strip() for line in block.splitlines()]
        joined, current = [], ""
        for line in lines:
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                current += line[:-1].rstrip() + " "
                continue
            joined.append((current + line).strip())
            current = ""
        cd = None
        for command in joined:
            if command.startswith("cd "):
                cd = command
                continue
            commands.append(f"{cd} && {command}" if cd else command)
    return commands


def test_the_page_names_its_placeholders_and_every_command_is_recognised():
    text = DOC.read_text()
    for placeholder in (
        "/path/to/vsep",
        "/path/to/vsep-certs",
        "10.0.0.5",
        "10.0.0.6",
        "8786",
        "/path/to/songs",
        "/path/to/results",
        "192.168.1.20",
        "8501",
    ):
        assert f"`{placeholder}`" in text, f"SERVING.md does not name {placeholder} as a placeholder"
    commands = bash_commands(text)
    assert len(commands) >= 8
    assert any("cluster_setup certs" in c for c in commands) and any("batch" in c for c in commands)


def _substitute(command: str, values: dict) -> str:
    for placeholder in sorted(values, key=len, reverse=True):  # /path/to/vsep-certs before /path/to/vsep
        command = command.replace(placeholder, values[placeholder])
    return command


def _option(command: str, name: str) -> str | None:
    found = re.search(rf"{re.escape(name)}[ =](\S+)", command)
    return found.group(1) if found else None


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the dashboard exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=3) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.mark.slow
def test_every_command_of_serving_md_runs_as_printed(tmp_path, monkeypatch):
    port = free_port()
    values = {
        "/path/to/vsep-certs": str(tmp_path / "vsep-certs"),
        "/path/to/vsep": str(REPO),
        "/path/to/songs": str(tmp_path / "songs"),
        "/path/to/results": str(tmp_path / "results"),
        "10.0.0.5": HOST,
        "10.0.0.6": HOST,
        "192.168.1.20": HOST,
        "8786": str(port),
        "8501": str(free_port()),
    }
    song = tmp_path / "songs" / "speech_brahms"
    song.mkdir(parents=True)
    for name in ("mixture.wav", "vocal.wav"):
        shutil.copy(EVAL_PAIR / name, song / name)
    background: list[subprocess.Popen] = []
    scheduler = worker = None
    dashboard_env: dict = {}
    try:
        for i, printed in enumerate(bash_commands(DOC.read_text())):
            command = _substitute(printed, values)
            log = tmp_path / f"command-{i}.log"
            env = plain_env()
            # Commands without their own ``cd`` are the README's: typed in the checkout. The others start
            # elsewhere, as on a machine where the shell opens in the home folder.
            cwd = tmp_path if command.startswith("cd ") else REPO
            server = any(word in command for word in SERVER_WORDS)
            http_port = None
            if server and "dashboard.sh" in command:
                http_port = int(_option(command, "--server.port") or free_port())
                env["STREAMLIT_SERVER_PORT"] = str(http_port)
                dashboard_env = dict(re.findall(r"\b(VSEP_DASK_\w+)=(\S+)", command)) or dashboard_env
            if not server:
                done = subprocess.run(
                    ["bash", "-c", command],
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                    timeout=900,
                )
                assert done.returncode == 0, f"{printed!r} failed:\n{log.read_text()[-3000:]}"
                continue
            proc = subprocess.Popen(
                ["bash", "-c", command],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            background.append(proc)
            if http_port is not None:  # a dashboard: it answers on the address it was given, then it stops
                address = _option(command, "--server.address") or "localhost"
                _wait_http(f"http://{address}:{http_port}/_stcore/health", proc, log)
                _stop(proc)
            elif "cluster_setup scheduler" in command:
                scheduler = proc
            else:
                worker = proc
                certs = Path(values["/path/to/vsep-certs"])
                wait_for_workers(f"tls://{HOST}:{port}", certs, int(_option(command, "--nworkers") or 1))
        assert scheduler is not None and worker is not None and dashboard_env
        assert (tmp_path / "results" / "per_song.csv").is_file()  # the batch command's results

        # Every port of the cluster the page's commands started is on the one address they named.
        ports = listeners(scheduler.pid) + listeners(worker.pid)
        assert ports and {ip for _, ip, _ in ports} == {HOST}, ports
        assert [p for _, _, p in listeners(scheduler.pid)] == [port]

        # A real job from the dashboard's code path, configured as the page's dashboard command.
        from vsep_app import jobs
        from vsep_core.audio import prepare_pair
        from vsep_core.experiment import run_experiment
        from vsep_core.settings import Settings

        for key, value in dashboard_env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        pair = prepare_pair(song / "mixture.wav", vocal=song / "vocal.wav", settings=settings)
        remote = jobs.remote()
        try:
            assert remote is not None and remote.address == f"tls://{HOST}:{port}"
            result = remote.call("run_experiment", (pair, settings), dict(max_slices=2, greedy=False))
        finally:
            jobs.close_remote()
        local = run_experiment(pair, settings, max_slices=2, greedy=False)
        assert [r.final_loss for r in result.progressive] == [r.final_loss for r in local.progressive]
        np.testing.assert_array_equal(
            result.progressive[-1].estimate.vocal_raw, local.progressive[-1].estimate.vocal_raw
        )
    finally:
        for proc in reversed(background):
            _stop(proc)
