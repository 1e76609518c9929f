"""Results folders that are all or nothing.

A command that writes a folder of results (``run --out``, ``batch --out``)
checks the place first (:func:`check_out_dir`), writes everything into a
hidden staging folder beside it (same parent, so the final move is a rename
on one file system) and moves it into place only when everything is written
(:class:`StagedFolder`). An existing results folder is replaced only then
(renamed aside, the new one renamed in, the old one removed), so a failed or
interrupted run leaves it byte-identical, and no half-written folder ever
carries the target's name.

A place is claimed while a command writes to it (:func:`check_out_dir`
takes an advisory lock, ``fcntl.flock``, on a hidden ``.<name>.vsep-lock``
beside it), so a second command into the same folder is refused with a
message instead of one of them losing its results; the claim also sweeps
the staging folders killed commands left (SIGKILL, a power cut). Single
files are written atomically too (:func:`atomic_file`: a hidden temporary
file in the same folder, flushed to disk and renamed over the name).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import signal
import uuid
from contextlib import contextmanager
from pathlib import Path

from .errors import VsepError

#: Top-level entries a ``run`` results folder holds (an existing folder with anything else is not replaced).
RUN_ENTRIES = re.compile(
    r"^(README\.txt|summary\.json|settings\.json|metrics\.json|full_quality\.json|report\.html|plots|best_sequence_found"
    r"|best_prefix_found|\d+_slices|joint)$"
)
#: Top-level entries of a ``batch`` results folder.
BATCH_ENTRIES = re.compile(r"^(per_song\.csv|summary\.csv|failures\.csv|batch\.json)$")

_STAGING_MARK = ".vsep-staging-"
_OLD_MARK = ".vsep-old-"
_LOCK_MARK = ".vsep-lock"
_TMP_MARK = ".vsep-tmp-"
#: Leftovers of one place: ``.<name>.vsep-staging-<12 hex>`` and ``.<name>.vsep-old-<12 hex>``.
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.vsep-(?:staging|old)-[0-9a-f]{12}$")


def check_out_dir(out, *, entries=RUN_ENTRIES, marker: str = "summary.json", option: str = "--out") -> Path:
    """Check that results may be written to the folder ``out``, before any work is done.

    ``out`` may be missing (it is created), an empty folder, or an earlier
    results folder (it holds ``marker`` and only what a results folder
    holds; it is replaced when the new one is complete).

    The place is then claimed for this process (:func:`claim_out_dir`) until
    its :class:`StagedFolder` ends or :func:`release_out_dir` is called.

    Returns
    -------
    Path
        ``out`` as an absolute path.

    Raises
    ------
    VsepError
        For an empty name, a file, a folder that holds other things, or a
        place where nothing can be written, or a place another command is
        writing to (one line each).
    """
    text = os.fspath(out) if out is not None else ""
    if not str(text).strip():
        raise VsepError(f"{option} is empty; give the name of the folder to write the results to.")
    path = Path(text).expanduser().absolute()
    cwd = Path.cwd()
    if path.resolve() in (cwd.resolve(), *cwd.resolve().parents):
        raise VsepError(
            f"{option} {text!r} is the current folder or holds it; give a folder inside it "
            "(the results folder is replaced as a whole)."
        )
    if path.exists() or path.is_symlink():
        if path.is_symlink():
            raise VsepError(f"{option} {text!r} is a symbolic link; give a real folder (it would be replaced).")
        if not path.is_dir():
            raise VsepError(f"{option} {text!r} is a file, not a folder; give a new or empty folder.")
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            raise VsepError(f"Cannot read the folder {text!r}: {exc.strerror or exc}.") from None
        if names:
            strangers = [n for n in names if not entries.match(n)]
            if strangers or marker not in names:
                example = strangers[0] if strangers else f"no {marker}"
                raise VsepError(
                    f"{option} {text!r} holds files that are not an earlier run's results "
                    f"({example!r}); give a new or empty folder, so nothing of yours is replaced."
                )
    _check_writable_place(path, f"Cannot write to {option} {text!r}")
    claim_out_dir(path, option=option, text=text)
    return path


def _check_writable_place(path: Path, cannot: str) -> None:
    """Refuse ``path`` when its nearest existing ancestor is a file or not writable (``cannot`` starts the message)."""
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise VsepError(f"{cannot}: {str(existing)!r} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise VsepError(f"{cannot}: no permission to write in {str(existing)!r}.")


def check_out_file(out, *, option: str = "--json") -> Path:
    """Check, before any work, that a single output file (``evaluate --json``) can be written at ``out``.

    Raises
    ------
    VsepError
        For an empty name, a folder, a path under a file, or a place without write permission.
    """
    text = os.fspath(out) if out is not None else ""
    if not str(text).strip():
        raise VsepError(f"{option} is empty; give the name of the file to write.")
    path = Path(text).expanduser().absolute()
    if path.is_dir():
        raise VsepError(f"{option} {text!r} is a folder; give a file name.")
    _check_writable_place(path, f"Cannot write the JSON report to {text!r}")
    return path


# --- claims: one writer per place ------------------------------------------------------

#: Places this process has claimed: absolute target -> (lock file descriptor, lock path, parents made).
_claims: dict = {}


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}{_LOCK_MARK}"


def _try_lock(lock: Path):
    """An open, exclusively locked descriptor of ``lock`` (created if missing), or None when another holds it.

    The holder removes the lock file on release, so after locking, the
    descriptor must still be the file at that name (else it was removed
    meanwhile and a new one may be held by a third process): then try again.
    """
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _unlock(fd: int, lock: Path) -> None:
    try:
        os.unlink(lock)  # while still held: a process waiting on the old file sees it gone and tries again
    except OSError:
        pass
    os.close(fd)


def claim_out_dir(target, *, option: str = "--out", text=None) -> Path:
    """Claim the results place ``target`` for this process, and sweep what killed commands left beside it.

    An advisory lock (``fcntl.flock``) on ``.<name>.vsep-lock`` in the
    place's parent (made, with any missing parents, if need be): another
    process claiming the same place is refused until this one releases it
    (:func:`release_out_dir`, called when its :class:`StagedFolder` ends) or
    ends (the kernel drops a dead process's lock). Claiming a place this
    process already holds does nothing. Holding the lock, the stale staging
    folders of the parent are removed (:func:`sweep_leftovers`).

    Raises
    ------
    VsepError
        When another command is writing to the place, or the lock file
        cannot be made.
    """
    target = Path(target).absolute()
    if target in _claims:
        return target
    text = str(target) if text is None else text
    made = []
    p = target.parent
    while not p.exists():
        made.append(p)
        p = p.parent
    try:
        for folder in reversed(made):
            folder.mkdir()
        fd = _try_lock(_lock_path(target))
    except OSError as exc:
        _remove_empty(made)
        raise VsepError(f"Cannot write to {option} {text!r}: {exc.strerror or exc}.") from None
    if fd is None:
        _remove_empty(made)
        raise VsepError(
            f"{option} {text!r} is in use: another vsep command is writing its results there. "
            "Wait for it to finish, or give another folder."
        )
    _claims[target] = (fd, _lock_path(target), made)
    sweep_leftovers(target.parent)
    return target


def release_out_dir(target) -> None:
    """Release this process's claim on ``target`` (and remove the parents the claim made, when empty)."""
    claim = _claims.pop(Path(target).absolute(), None)
    if claim is not None:
        fd, lock, made = claim
        _unlock(fd, lock)
        _remove_empty(made)


def release_all_claims() -> None:
    """Release every claim this process holds (the command line calls it when a command ends)."""
    for target in list(_claims):
        release_out_dir(target)


def _remove_empty(folders) -> None:
    """Remove ``folders`` (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # something else was put there meanwhile: leave it
            break


def sweep_leftovers(parent) -> list:
    """Remove the staging and old folders in ``parent`` that no running command can be using.

    ``.<name>.vsep-staging-…`` and ``.<name>.vsep-old-…`` belong to the
    place ``<name>``: they are stale when this process has claimed that place,
    or when its lock is free (no process is writing there, so they are what a
    killed command left; a free lock file ``.<name>.vsep-lock`` goes too).
    Those of a place another process holds are left alone.

    Returns
    -------
    list of Path
        What was removed.
    """
    parent = Path(parent)
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    by_place: dict = {}
    for entry in entries:
        if _LEFTOVER.match(entry.name) and entry.is_dir(follow_symlinks=False):
            by_place.setdefault(_LEFTOVER.match(entry.name)["name"], []).append(entry.path)
        elif entry.name.startswith(".") and entry.name.endswith(_LOCK_MARK) and len(entry.name) > len(_LOCK_MARK) + 1:
            by_place.setdefault(entry.name[1 : -len(_LOCK_MARK)], [])  # a lock file alone: removed if free
    removed = []
    for name, found in by_place.items():
        place = (parent / name).absolute()
        fd = None
        if place not in _claims:
            try:
                fd = _try_lock(_lock_path(place))
            except OSError:
                continue
            if fd is None:  # another command is writing there: its staging folder is alive
                continue
        try:
            for path in found:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(Path(path))
        finally:
            if fd is not None:
                _unlock(fd, _lock_path(place))
    return removed


# --- atomic single files ---------------------------------------------------------------


@contextmanager
def atomic_file(path, mode: str = "wb", **open_args):
    """Open a hidden temporary file beside ``path``; on success flush it to disk and rename it to ``path``.

    The previous file at ``path`` stays whole until the new one is complete:
    a full disk, an error or a kill leave it as it was. On an error the
    temporary file is removed and the error raised. Folders are made as needed.

    Parameters
    ----------
    path : path
    mode : {"wb", "w"}
    **open_args
        Passed to :func:`open` (``newline=""``, ``encoding=`` ...).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}{_TMP_MARK}{uuid.uuid4().hex[:12]}"
    f = open(tmp, mode, **open_args)
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the system lets a folder be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path, data) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_file`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


class StagedFolder:
    """Write a results folder beside its target and move it into place at the end.

    Use as a context manager: the body writes into :attr:`path` (a hidden
    folder in the target's parent); on normal exit :meth:`commit` moves it to
    the target; on any exception (also ``KeyboardInterrupt``) the staging
    folder and any parent folders made for it are removed and the target is
    untouched.

    Parameters
    ----------
    target : path
        Checked by :func:`check_out_dir` first.

    Raises
    ------
    VsepError
        When the staging folder cannot be made (no permission, read-only place ...).
    """

    def __init__(self, target):
        self.target = Path(target).absolute()
        self.path: Path | None = None
        self._made_parents: list[Path] = []

    def __enter__(self) -> "StagedFolder":
        parent = self.target.parent
        missing = []
        p = parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._made_parents.append(folder)
            self.path = parent / f".{self.target.name}{_STAGING_MARK}{uuid.uuid4().hex[:12]}"
            self.path.mkdir()
        except OSError as exc:
            self._remove_parents()
            release_out_dir(self.target)
            raise VsepError(f"Cannot write to {str(self.target)!r}: {exc.strerror or exc}.") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.discard()
        finally:
            release_out_dir(self.target)
        return False

    def commit(self) -> Path:
        """Move the staging folder to the target (replacing an earlier results folder); signals wait."""
        old = self.target.parent / f".{self.target.name}{_OLD_MARK}{uuid.uuid4().hex[:12]}"
        with _signals_deferred():
            try:
                had_old = self.target.exists()
                if had_old:
                    os.rename(self.target, old)
                try:
                    os.rename(self.path, self.target)
                except OSError:
                    if had_old:
                        os.rename(old, self.target)
                    raise
            except OSError as exc:
                self.discard()
                raise VsepError(f"Cannot move the results into {str(self.target)!r}: {exc.strerror or exc}.") from None
        if had_old:
            shutil.rmtree(old, ignore_errors=True)
        self.path = None
        return self.target

    def discard(self) -> None:
        """Remove the staging folder (and parents made for it); the target is untouched."""
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
        self._remove_parents()

    def _remove_parents(self) -> None:
        for folder in reversed(self._made_parents):
            try:
                folder.rmdir()
            except OSError:  # something else was put there meanwhile: leave it
                break
        self._made_parents = []


class _signals_deferred:
    """Hold Ctrl-C (SIGINT, SIGTERM) during the two renames, so the swap is not cut in half."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.blocked = hasattr(signal, "pthread_sigmask")
        if self.blocked:
            self.previous = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        return self

    def __exit__(self, *exc):
        if self.blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.previous)
        return False
