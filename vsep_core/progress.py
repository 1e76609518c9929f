"""Progress reporting shared by every long call.

A progress callback is any ``callable(fraction: float, label: str)``; the
dashboard passes one that moves an ``st.progress`` bar, the CLI one that
draws a terminal bar. ``None`` means nobody is listening.
"""

from __future__ import annotations

from typing import Callable, Optional

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
