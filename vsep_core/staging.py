"""Results folders that are all or nothing.

A command that writes a folder of results (``run --out``, ``batch --out``)
checks the place first (:func:`check_out_dir`), writes everything into a
hidden staging folder beside it (same parent, so the final move is a rename
on one file system) and moves it into place only when everything is written
(:class:`StagedFolder`). An existing results folder is replaced only then
(renamed aside, the new one renamed in, the old one removed), so a failed or
interrupted run leaves it byte-identical, and no half-written folder ever
carries the target's name.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import uuid
from pathlib import Path

from .errors import VsepError

#: Top-level entries a ``run`` results folder holds (an existing folder with anything else is not replaced).
RUN_ENTRIES = re.compile(r"^(summary\.json|settings\.json|metrics\.json|report\.html|plots|best_sequence_found"
                         r"|best_prefix_found|\d+_slices|joint)$")
#: Top-level entries of a ``batch`` results folder.
BATCH_ENTRIES = re.compile(r"^(per_song\.csv|summary\.csv|failures\.csv|batch\.json)$")

_STAGING_MARK = ".vsep-staging-"
_OLD_MARK = ".vsep-old-"


def check_out_dir(out, *, entries=RUN_ENTRIES, marker: str = "summary.json", option: str = "--out") -> Path:
    """Check that results may be written to the folder ``out``, before any work is done.

    ``out`` may be missing (it is created), an empty folder, or an earlier
    results folder (it holds ``marker`` and only what a results folder
    holds; it is replaced when the new one is complete).

    Returns
    -------
    Path
        ``out`` as an absolute path.

    Raises
    ------
    VsepError
        For an empty name, a file, a folder that holds other things, or a
        place where nothing can be written (one line each).
    """
    text = os.fspath(out) if out is not None else ""
    if not str(text).strip():
        raise VsepError(f"{option} is empty; give the name of the folder to write the results to.")
    path = Path(text).expanduser().absolute()
    cwd = Path.cwd()
    if path.resolve() in (cwd.resolve(), *cwd.resolve().parents):
        raise VsepError(f"{option} {text!r} is the current folder or holds it; give a folder inside it "
                        "(the results folder is replaced as a whole).")
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
                raise VsepError(f"{option} {text!r} holds files that are not an earlier run's results "
                                f"({example!r}); give a new or empty folder, so nothing of yours is replaced.")
    _check_writable_place(path, f"Cannot write to {option} {text!r}")
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
            raise VsepError(f"Cannot write to {str(self.target)!r}: {exc.strerror or exc}.") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
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
                raise VsepError(f"Cannot move the results into {str(self.target)!r}: {exc.strerror or exc}.") \
                    from None
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
