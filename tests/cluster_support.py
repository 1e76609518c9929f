"""A closed vsep Dask cluster for tests: certificates, a scheduler and workers started as the docs say.

The scheduler and the workers are separate processes started with ``python -m vsep_core.cluster_setup``
(TLS with the cluster's certificates, one address, no HTTP), from a plain environment without PYTHONPATH.
The interface is 127.0.0.2 (a loopback address that is not the default one), so a listener on 127.0.0.1 or
0.0.0.0 would show.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(Path(sys.executable))
HOST = "127.0.0.2"


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def plain_env(**extra) -> dict:
    """The environment of a plain shell: this one without PYTHONPATH and the cluster's variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VSEP_DASK_SCHEDULER", "VSEP_DASK_CERTS") and not k.startswith("DASK_")
    }
    env.update(extra)
    return env


def security(certs):
    from distributed import Security

    certs = Path(certs)
    return Security(
        tls_ca_file=str(certs / "ca.pem"),
        tls_client_cert=str(certs / "node.pem"),
        tls_client_key=str(certs / "node-key.pem"),
        require_encryption=True,
    )


def wait_for_workers(address: str, certs, n: int, timeout: float = 120.0) -> None:
    from distributed import Client

    deadline = time.monotonic() + timeout
    while True:
        try:
            with Client(address, security=security(certs), timeout="10s", set_as_default=False) as client:
                client.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))
                return
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def stop(procs) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def closed_cluster(folder: Path, *, nworkers: int = 1):
    """Certificates in ``folder/certs``, a scheduler and ``nworkers`` workers on :data:`HOST`:
    yields ``(address, certs, [scheduler process, worker process])``."""
    certs = folder / "certs"
    env = plain_env()
    subprocess.run(
        [PYTHON, "-m", "vsep_core.cluster_setup", "certs", str(certs)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    address = f"tls://{HOST}:{port}"
    logs = [open(folder / "scheduler.log", "wb"), open(folder / "worker.log", "wb")]
    procs = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "vsep_core.cluster_setup",
                "scheduler",
                "--host",
                HOST,
                "--port",
                str(port),
                "--certs",
                str(certs),
            ],
            cwd=REPO,
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        procs.append(
            subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "vsep_core.cluster_setup",
                    "worker",
                    address,
                    "--host",
                    HOST,
                    "--nworkers",
                    str(nworkers),
                    "--certs",
                    str(certs),
                    "--",
                    "--name",
                    "vsep-test-worker",
                ],
                cwd=REPO,
                env=env,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
        )
        wait_for_workers(address, certs, nworkers)
        yield address, certs, procs
    finally:
        stop(procs)
        for log in logs:
            log.close()


def listeners(pid: int, descendants: bool = True) -> list[tuple[int, str, int]]:
    """``(pid, ip, port)`` of every listening TCP socket of process ``pid`` (and its descendants)."""
    import psutil

    root = psutil.Process(pid)
    out = []
    for proc in [root, *(root.children(recursive=True) if descendants else [])]:
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in proc.net_connections("inet"):
                if conn.status == psutil.CONN_LISTEN:
                    out.append((proc.pid, conn.laddr.ip, conn.laddr.port))
    return out
