"""A real PostgreSQL server for the tests: Debian's postgresql package, started in a temporary folder.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the
``postgres`` user the Debian package creates (``runuser -u postgres``), in a
folder that user owns, on a free port of 127.0.0.1, with trust authentication
for local connections only. :class:`PostgresServer` stops it and removes the
folder on exit. Each test gets its own database (:meth:`PostgresServer.new_database`).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from browser_support import free_port


def postgres_bin(tool: str) -> str | None:
    """Debian installs the server's programs under /usr/lib/postgresql/<version>/bin (not on PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else shutil.which(tool)


def missing_reason() -> str | None:
    if postgres_bin("initdb") is None or postgres_bin("pg_ctl") is None:
        return "PostgreSQL's server (Debian package postgresql) is not installed: run `bash scripts/setup.sh --test`"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is missing (needed to start PostgreSQL as the postgres user)"
    try:
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed: run `bash scripts/setup.sh --test`"
    return None


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in a temporary folder; ``url`` is the server's ``postgresql://`` address."""

    def __init__(self):
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="vsep_pg_"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd, timeout=120) -> None:
        subprocess.run(
            [*self.as_user, *cmd],
            check=True,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )

    def __enter__(self) -> "PostgresServer":
        self._run(
            postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        self._run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.root} -h 127.0.0.1 -c fsync=off -c max_connections=60",
            "start",
        )
        return self

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import sqlalchemy as sa

        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(
            self.url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
        )
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def __exit__(self, *exc) -> None:
        try:
            self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
