"""Progress reporting shared by every long call.

A progress callback is any ``callable(fraction: float, label: str)``; the
dashboard passes one that moves an ``st.progress`` bar, the command line a
:class:`TerminalProgress` (tqdm). ``None`` means nobody is listening.
"""

from __future__ import annotations

from typing import Callable, Optional

from .text import terminal_text

Progress = Optional[Callable[[float, str], None]]


def report(progress: Progress, fraction: float, label: str) -> None:
    """Call ``progress`` if there is one, with ``fraction`` clipped to [0, 1]."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), label)


def scaled(progress: Progress, start: float, stop: float) -> Progress:
    """A callback that maps [0, 1] onto [start, stop] of ``progress``.

    Lets a function that reports 0 … 1 run as one part of a bigger job.
    """
    if progress is None:
        return None

    def inner(fraction: float, label: str) -> None:
        report(progress, start + (stop - start) * fraction, label)

    return inner


class TerminalProgress:
    """The command line's progress bar: a tqdm bar on stderr, drawn only on a terminal.

    A progress callback (``progress(fraction, label)``) that moves the bar
    and shows the label; :meth:`close` (or ``with``) removes it. When stderr
    is not a terminal (pipes, logs, tests) nothing is written, so a failing
    command leaves only its one-line message.

    Parameters
    ----------
    enabled : bool, optional
        ``False`` for ``--quiet``; ``None`` (default): only on a terminal.
    stream : file, optional
        Where to draw (stderr).
    """

    STEPS = 1000

    def __init__(self, *, enabled: bool | None = None, stream=None):
        from tqdm import tqdm

        self._bar = tqdm(
            total=self.STEPS,
            file=stream,
            disable=None if enabled is None else not enabled,
            leave=False,
            dynamic_ncols=True,
            bar_format="{percentage:5.1f}% |{bar:30}| {elapsed} {desc}",
        )

    def __call__(self, fraction: float, label: str) -> None:
        if self._bar.disable:
            return
        steps = int(round(min(max(float(fraction), 0.0), 1.0) * self.STEPS))
        self._bar.set_description_str(terminal_text(label), refresh=False)  # names may hold escapes
        self._bar.n = steps  # a later stage may start its own 0 … 1: set, do not add
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "TerminalProgress":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
