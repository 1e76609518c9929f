"""Published results: records in a real database, files content-addressed on disk.

A published result is a set of files (audio, JSON, plot data, a report) under
relative paths, with a title, a creation and an expiry time. The files go into
a content-addressed folder (``blobs/ab/abcdef…``, named by their SHA-256);
the record and its list of files go into a database through SQLAlchemy Core,
one code path for both back ends:

- SQLite (the default): one file, ``store.sqlite``, in the store folder
  (``VSEP_STORE`` when it is a folder, else ``.vsep_store/`` beside the app),
  created on first use readable by the server's user only (0700 folders, 0600
  files).
- PostgreSQL, for several servers sharing links: ``VSEP_STORE=postgresql://…``
  (the ``psycopg`` driver). The files then live in ``VSEP_STORE_FILES`` (a
  folder every server sees, e.g. a network share), default the folder above.

A publish is atomic: every file is written first (to a temporary name, then
renamed into place: a reader never sees half a file), then the record and its
file list in one transaction. A process killed in between leaves files no
record names (orphans), never a record without its files; :meth:`Store.gc`
removes orphans older than a grace period (a publish under way is younger).

Ids are random (:func:`secrets.token_urlsafe`, 144 bits), not derived from the
content; each result has a second secret, its delete token, of which only the
SHA-256 is stored. There is no way to list results except the operator's
``python -m vsep_core store list``.

Limits (settings, also read from the environment): a size cap per result
(``VSEP_STORE_MAX_RESULT_MB``), a store quota (``VSEP_STORE_QUOTA_MB``) and the
retention in days (``VSEP_STORE_RETENTION_DAYS``). A publish over the quota
first removes the oldest expired results; if that is not enough it is refused
with a clear message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .errors import VsepError

#: The folder beside the app used when ``VSEP_STORE`` is not set (git-ignored).
DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / ".vsep_store"
SCHEMA_VERSION = 2
#: Orphan files younger than this are left alone by :meth:`Store.gc`: a publish may be writing them.
GC_GRACE_S = 3600.0
_ID_RE = re.compile(r"[A-Za-z0-9_-]{22,64}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_PATH_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")


class NotFound(VsepError):
    """No result under that id: wrong, expired or deleted (deliberately one message for all three)."""


class StoreFull(VsepError):
    """The store's quota is reached and no expired result can make room."""


@dataclass(frozen=True)
class Limits:
    """The store's settings.

    Parameters
    ----------
    max_result_bytes : int
        Largest result (all its files added up).
    quota_bytes : int
        Largest total of every stored result.
    retention_days : float
        How long a link works after it is made.
    """

    max_result_bytes: int = 200 * 2**20
    quota_bytes: int = 5 * 2**30
    retention_days: float = 90.0

    def __post_init__(self):
        for name in ("max_result_bytes", "quota_bytes", "retention_days"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise VsepError(f"The store setting {name} must be a positive number, got {value!r}.")

    @classmethod
    def from_env(cls, environ=None) -> "Limits":
        """The limits from ``VSEP_STORE_MAX_RESULT_MB``, ``VSEP_STORE_QUOTA_MB``, ``VSEP_STORE_RETENTION_DAYS``."""
        env = os.environ if environ is None else environ
        d = cls()

        def number(name, default):
            text = env.get(name)
            if text is None or not text.strip():
                return default
            try:
                return float(text)
            except ValueError:
                raise VsepError(f"{name} must be a number, got {text!r}.") from None

        return cls(
            max_result_bytes=int(number("VSEP_STORE_MAX_RESULT_MB", d.max_result_bytes / 2**20) * 2**20),
            quota_bytes=int(number("VSEP_STORE_QUOTA_MB", d.quota_bytes / 2**20) * 2**20),
            retention_days=number("VSEP_STORE_RETENTION_DAYS", d.retention_days),
        )


@dataclass
class Published:
    """What a publish returns: the id (the link) and the delete token (shown to the publisher once)."""

    id: str
    delete_token: str
    expires_at: float
    size_bytes: int

    @property
    def link(self) -> str:
        return f"/shared?id={self.id}"

    @property
    def delete_link(self) -> str:
        return f"/shared?id={self.id}&delete={self.delete_token}"


@dataclass
class Record:
    """A stored result: its title, times and files (path → SHA-256, size)."""

    id: str
    title: str
    created_at: float
    expires_at: float
    size_bytes: int
    files: dict = field(default_factory=dict)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _secure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


class Store:
    """A results store (see the module's description).

    Parameters
    ----------
    location : str or path, optional
        A folder (SQLite inside it) or a ``postgresql://`` URL; default
        ``VSEP_STORE``, else :data:`DEFAULT_FOLDER`.
    files_dir : str or path, optional
        Where the content-addressed files go; default ``VSEP_STORE_FILES``,
        else ``<folder>/files`` (for PostgreSQL: :data:`DEFAULT_FOLDER`'s).
    limits : Limits, optional
        Default: :meth:`Limits.from_env`.
    """

    def __init__(self, location=None, files_dir=None, limits: Limits | None = None):
        import sqlalchemy as sa

        location = str(location or os.environ.get("VSEP_STORE") or DEFAULT_FOLDER)
        self.limits = limits or Limits.from_env()
        if re.match(r"postgres(ql)?(\+\w+)?://", location):
            url = sa.engine.make_url(location)
            if url.drivername in ("postgres", "postgresql"):
                url = url.set(drivername="postgresql+psycopg")
            self.url = url
            folder = DEFAULT_FOLDER
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        else:
            folder = Path(location).expanduser()
            _secure_dir(folder)
            db = folder / "store.sqlite"
            if not db.exists():
                db.touch(mode=0o600)
            os.chmod(db, 0o600)
            self.url = sa.engine.make_url(f"sqlite:///{db}")
            # 30 s busy timeout: writers queue instead of failing under concurrent publishes.
            self.engine = sa.create_engine(self.url, connect_args={"timeout": 30})
            _sqlite_immediate_transactions(self.engine)
        self.folder = folder
        self.files_dir = Path(files_dir or os.environ.get("VSEP_STORE_FILES") or folder / "files")
        _secure_dir(self.files_dir)
        _secure_dir(self.files_dir / "tmp")
        self._lock = threading.Lock()
        self._define()
        self.migrate()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    # --- schema -----------------------------------------------------------------------

    def _define(self) -> None:
        import sqlalchemy as sa

        self.meta = sa.MetaData()
        self.t_version = sa.Table("vsep_schema_version", self.meta, sa.Column("version", sa.Integer, nullable=False))
        self.t_results = sa.Table(
            "vsep_results",
            self.meta,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("delete_hash", sa.String(64), nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False),
            sa.Column("size_bytes", sa.BigInteger, nullable=False),
        )
        self.t_files = sa.Table(
            "vsep_result_files",
            self.meta,
            sa.Column(
                "result_id", sa.String(64), sa.ForeignKey("vsep_results.id", ondelete="CASCADE"), primary_key=True
            ),
            sa.Column("path", sa.String(300), primary_key=True),
            sa.Column("sha256", sa.String(64), nullable=False, index=True),
            sa.Column("size", sa.BigInteger, nullable=False),
        )

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`, one step at a time; the version it is at.

        Version 1: the results and their files. Version 2: an index on the
        expiry time (quota clean-up and gc look for the oldest expired).
        """
        import sqlalchemy as sa

        steps = {1: self._migrate_1, 2: self._migrate_2}
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # one server migrates at a time
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(727001)"))
            self.t_version.create(conn, checkfirst=True)
            version = conn.execute(sa.select(self.t_version.c.version)).scalar()
            if version is None:
                conn.execute(self.t_version.insert().values(version=0))
                version = 0
            if version > SCHEMA_VERSION:
                raise VsepError(
                    f"The results store is at schema version {version}, newer than this vsep "
                    f"({SCHEMA_VERSION}); update vsep."
                )
            for v in range(version + 1, SCHEMA_VERSION + 1):
                steps[v](conn)
                conn.execute(self.t_version.update().values(version=v))
            return max(version, SCHEMA_VERSION)

    def schema_version(self) -> int:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            return conn.execute(sa.select(self.t_version.c.version)).scalar()

    def _migrate_1(self, conn) -> None:
        self.t_results.create(conn, checkfirst=True)
        self.t_files.create(conn, checkfirst=True)

    def _migrate_2(self, conn) -> None:
        import sqlalchemy as sa

        sa.Index("ix_vsep_results_expires_at", self.t_results.c.expires_at).create(conn, checkfirst=True)

    # --- files --------------------------------------------------------------------------

    def _blob_path(self, sha: str) -> Path:
        return self.files_dir / sha[:2] / sha[2:]

    def _put_blob(self, data: bytes) -> str:
        """Write ``data`` under its hash (temporary name, then rename); its hash."""
        sha = _hash(data)
        final = self._blob_path(sha)
        if final.exists():
            os.utime(final)  # fresh again: gc's grace period protects it until the record is written
            return sha
        _secure_dir(final.parent)
        tmp = self.files_dir / "tmp" / f"{uuid.uuid4().hex}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        return sha

    def read_file(self, record: Record, path: str) -> bytes:
        """One file of a result, checked against its hash."""
        if path not in record.files:
            raise NotFound(f"This result has no file {path!r}.")
        sha = record.files[path][0]
        try:
            data = self._blob_path(sha).read_bytes()
        except FileNotFoundError:
            raise VsepError(
                "A file of this result is missing from the store; ask the operator to run "
                "`python -m vsep_core store check`."
            ) from None
        if _hash(data) != sha:
            raise VsepError(
                "A file of this result is damaged in the store; ask the operator to run "
                "`python -m vsep_core store check`."
            )
        return data

    # --- publish, open, delete ------------------------------------------------------------

    def publish(self, files: dict, title: str, *, now: float | None = None) -> Published:
        """Store ``files`` (relative path → bytes) as one result; its id and delete token.

        Raises
        ------
        VsepError
            A bad path, an empty result, a result over the size cap, or a full store.
        """
        import sqlalchemy as sa

        if not files:
            raise VsepError("Nothing to publish.")
        for path in files:
            if not isinstance(path, str) or len(path) > 300 or not _PATH_RE.fullmatch(path):
                raise VsepError(f"A published file needs a plain relative path, got {path!r}.")
        title = " ".join(str(title or "").split())[:200] or "Untitled result"
        size = sum(len(b) for b in files.values())
        if size > self.limits.max_result_bytes:
            raise VsepError(
                f"This result is {size / 2**20:.1f} MB, over the store's cap of "
                f"{self.limits.max_result_bytes / 2**20:.0f} MB per result: publish without audio, "
                "or fewer estimates."
            )
        manifest = {path: (self._put_blob(bytes(data)), len(data)) for path, data in files.items()}
        now = time.time() if now is None else now
        rid, token = secrets.token_urlsafe(18), secrets.token_urlsafe(24)
        expires = now + self.limits.retention_days * 86400.0
        with self._lock, self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # the quota check and the insert, one server at a time
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(727002)"))
            self._make_room(conn, size, now)
            conn.execute(
                self.t_results.insert().values(
                    id=rid,
                    delete_hash=_hash(token.encode()),
                    title=title,
                    created_at=now,
                    expires_at=expires,
                    size_bytes=size,
                )
            )
            conn.execute(
                self.t_files.insert(),
                [{"result_id": rid, "path": p, "sha256": s, "size": n} for p, (s, n) in manifest.items()],
            )
        return Published(id=rid, delete_token=token, expires_at=expires, size_bytes=size)

    def _make_room(self, conn, size: int, now: float) -> None:
        """Remove the oldest expired results until ``size`` more bytes fit the quota, else refuse."""
        import sqlalchemy as sa

        r = self.t_results
        used = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(r.c.size_bytes), 0))).scalar()
        if used + size <= self.limits.quota_bytes:
            return
        expired = conn.execute(
            sa.select(r.c.id, r.c.size_bytes).where(r.c.expires_at <= now).order_by(r.c.expires_at)
        ).all()
        drop = []
        for rid, n in expired:
            if used + size <= self.limits.quota_bytes:
                break
            drop.append(rid)
            used -= n
        if used + size > self.limits.quota_bytes:
            raise StoreFull(
                "The results store is full (its quota is "
                f"{self.limits.quota_bytes / 2**20:.0f} MB and no expired result can make room): "
                "publish without audio, or ask the person running this server to raise the quota."
            )
        self._delete_ids(conn, drop)

    def _delete_ids(self, conn, ids) -> None:
        if ids:
            conn.execute(self.t_files.delete().where(self.t_files.c.result_id.in_(ids)))
            conn.execute(self.t_results.delete().where(self.t_results.c.id.in_(ids)))

    def get(self, rid: str, *, now: float | None = None) -> Record:
        """The record of a live result.

        Raises
        ------
        NotFound
            For a malformed, unknown, expired or deleted id (one message for all).
        """
        import sqlalchemy as sa

        missing = NotFound("No published result has this link: it may be mistyped, expired or deleted.")
        if not isinstance(rid, str) or not _ID_RE.fullmatch(rid):
            raise missing
        now = time.time() if now is None else now
        r, f = self.t_results, self.t_files
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(r.c.id, r.c.title, r.c.created_at, r.c.expires_at, r.c.size_bytes).where(r.c.id == rid)
            ).first()
            if row is None or row.expires_at <= now:
                raise missing
            files = {
                p: (s, n)
                for p, s, n in conn.execute(sa.select(f.c.path, f.c.sha256, f.c.size).where(f.c.result_id == rid))
            }
        return Record(
            id=row.id,
            title=row.title,
            created_at=row.created_at,
            expires_at=row.expires_at,
            size_bytes=row.size_bytes,
            files=files,
        )

    def delete(self, rid: str, token: str | None = None) -> bool:
        """Delete a result: with its delete token (the publisher), or ``token=None`` (the operator).

        Returns ``False`` when there is no such result or the token is wrong. The
        files go at the next :meth:`gc`.
        """
        import sqlalchemy as sa

        if not isinstance(rid, str) or not _ID_RE.fullmatch(rid):
            return False
        r = self.t_results
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(sa.select(r.c.delete_hash).where(r.c.id == rid)).first()
            if row is None:
                return False
            if token is not None and not secrets.compare_digest(row.delete_hash, _hash(str(token).encode())):
                return False
            self._delete_ids(conn, [rid])
        return True

    # --- the operator's commands ---------------------------------------------------------

    def list(self) -> list[Record]:
        """Every record (the operator's ``store list``; the app never lists)."""
        import sqlalchemy as sa

        r = self.t_results
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(r.c.id, r.c.title, r.c.created_at, r.c.expires_at, r.c.size_bytes).order_by(r.c.created_at)
            ).all()
        return [
            Record(id=x.id, title=x.title, created_at=x.created_at, expires_at=x.expires_at, size_bytes=x.size_bytes)
            for x in rows
        ]

    def _referenced(self) -> set:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            return set(conn.execute(sa.select(self.t_files.c.sha256).distinct()).scalars())

    def _blobs(self):
        for sub in self.files_dir.iterdir():
            if sub.is_dir() and len(sub.name) == 2 and sub.name != "tmp":
                for f in sub.iterdir():
                    yield sub.name + f.name, f

    def gc(self, *, grace_s: float = GC_GRACE_S, now: float | None = None) -> dict:
        """Remove expired results, then files no record names (older than ``grace_s``) and stale temp files.

        Returns the counts: ``{"expired": …, "files": …, "bytes": …}``.
        """
        import sqlalchemy as sa

        now = time.time() if now is None else now
        r = self.t_results
        with self._lock, self.engine.begin() as conn:
            expired = list(conn.execute(sa.select(r.c.id).where(r.c.expires_at <= now)).scalars())
            self._delete_ids(conn, expired)
        keep = self._referenced()
        removed = freed = 0
        for sha, path in list(self._blobs()):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if sha not in keep and now - st.st_mtime >= grace_s:
                path.unlink(missing_ok=True)
                removed, freed = removed + 1, freed + st.st_size
        for tmp in (self.files_dir / "tmp").iterdir():
            if now - tmp.stat().st_mtime >= grace_s:
                tmp.unlink(missing_ok=True)
                removed += 1
        return {"expired": len(expired), "files": removed, "bytes": freed}

    def check(self) -> list[str]:
        """Every record's files present with the right hash; the problems found (empty: all well)."""
        import sqlalchemy as sa

        f = self.t_files
        problems = []
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(f.c.result_id, f.c.path, f.c.sha256, f.c.size)).all()
        for rid, path, sha, size in rows:
            blob = self._blob_path(sha)
            if not blob.is_file():
                problems.append(f"{rid}: {path} is missing")
                continue
            h = hashlib.sha256()
            with open(blob, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            if h.hexdigest() != sha or blob.stat().st_size != size:
                problems.append(f"{rid}: {path} is damaged (its hash differs)")
        return problems

    def copy_to(self, target: "Store") -> int:
        """Copy every result (ids, delete-token hashes, dates, files) into ``target``; how many were copied.

        How a SQLite store moves to PostgreSQL: the links keep working. Results ``target``
        already has are left as they are.
        """
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            results = [dict(r._mapping) for r in conn.execute(sa.select(self.t_results))]
            files = [dict(r._mapping) for r in conn.execute(sa.select(self.t_files))]
        for sha in {f["sha256"] for f in files}:
            if not target._blob_path(sha).exists():
                target._put_blob(self._blob_path(sha).read_bytes())
        with target._lock, target.engine.begin() as conn:
            have = set(conn.execute(sa.select(target.t_results.c.id)).scalars())
            new = [r for r in results if r["id"] not in have]
            if new:
                conn.execute(target.t_results.insert(), new)
                ids = {r["id"] for r in new}
                conn.execute(target.t_files.insert(), [f for f in files if f["result_id"] in ids])
        return len(new)

    def disk_bytes(self) -> int:
        """Bytes the files take on disk (shared files counted once)."""
        return sum(p.stat().st_size for _, p in self._blobs())

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_immediate_transactions(engine) -> None:
    """Every SQLite transaction takes the write lock at BEGIN (SQLAlchemy's documented pysqlite recipe).

    Python's sqlite3 otherwise begins a transaction only at the first write,
    so two publishes could both read the quota before either writes.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # sqlite3 emits no BEGIN of its own

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_STORES: dict = {}
_STORES_LOCK = threading.Lock()


def default_store() -> Store:
    """One :class:`Store` per location per process (from the environment)."""
    key = (os.environ.get("VSEP_STORE"), os.environ.get("VSEP_STORE_FILES"))
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = Store()
        return _STORES[key]


def read_json(store: Store, record: Record, path: str):
    return json.loads(store.read_file(record, path))


# --- the command line's bodies (``share`` and ``store``) ------------------------------------


def main_store(args) -> int:
    """``store list|delete ID|gc|check|copy-to URL``."""
    store = Store()
    if args.store_command == "list":
        now = time.time()
        for rec in store.list():
            state = (
                "expired"
                if rec.expires_at <= now
                else f"expires {time.strftime('%Y-%m-%d', time.gmtime(rec.expires_at))}"
            )
            print(
                f"{rec.id}  {time.strftime('%Y-%m-%d %H:%M', time.gmtime(rec.created_at))}  "
                f"{rec.size_bytes / 2**20:7.2f} MB  {state}  {json.dumps(rec.title, ensure_ascii=False)}"
            )
        print(f"{len(store.list())} results, {store.disk_bytes() / 2**20:.2f} MB of files ({store.backend})")
        return 0
    if args.store_command == "delete":
        if not store.delete(args.id):
            raise VsepError(f"No result {args.id!r} in the store.")
        print(f"deleted {args.id} (its files go at the next `store gc`)")
        return 0
    if args.store_command == "copy-to":
        n = store.copy_to(Store(args.target, files_dir=args.files))
        print(f"copied {n} results to {args.target.split('@')[-1]} (links keep working with VSEP_STORE set to it)")
        return 0
    if args.store_command == "gc":
        done = store.gc(grace_s=args.grace)
        print(
            f"removed {done['expired']} expired results and {done['files']} unused files "
            f"({done['bytes'] / 2**20:.2f} MB)"
        )
        return 0
    problems = store.check()
    for line in problems:
        print(line)
    print(
        f"checked {len(store.list())} results: "
        + ("all files present and intact" if not problems else f"{len(problems)} problems")
    )
    return 1 if problems else 0


def main_share(args) -> int:
    """``share RESULTS_FOLDER``: publish a run folder; print the link path and the delete link."""
    from .bundle import bundle_from_folder

    files, title = bundle_from_folder(args.folder, title=args.title, audio=not args.no_audio)
    published = Store().publish(files, title)
    print(published.link)
    print(f"delete link (keep it secret): {published.delete_link}")
    print(
        f"expires {time.strftime('%Y-%m-%d', time.gmtime(published.expires_at))}; {published.size_bytes / 2**20:.2f} MB"
    )
    return 0
